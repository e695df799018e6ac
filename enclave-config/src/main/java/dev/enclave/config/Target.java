package dev.enclave.config;

/** Where Enclave runs: this host with a namespace, the three-namespace lab, or AWS. */
public enum Target { LOCAL, LAB, AWS }
