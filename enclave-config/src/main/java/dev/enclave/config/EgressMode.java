package dev.enclave.config;

/**
 * {@code ENFORCE} denies; {@code REPORT} lets policy denials through and audits them as
 * {@code report_would_deny}. Report mode exists only to discover an allowlist: it is announced at
 * start and marked on every audit line.
 */
public enum EgressMode { ENFORCE, REPORT }
