package dev.enclave.egress.policy;

import dev.enclave.config.match.AddressClass;

/**
 * Why a decision was taken. The code is stable (audit lines, metrics, the {@code X-Enclave-Reason}
 * header); the text is the one line a client sees in the error body.
 *
 * <p>{@link #reportable()} says whether report mode may let the request through: only the
 * allowlist checks are relaxed; malformed requests, IP literals, the metadata service and the
 * proxy's own address stay denied in every mode.
 */
public enum Reason {
    ALLOWED("allowed", 200, "destination is on the allowlist", false),
    BAD_REQUEST("bad_request", 400, "request is not well-formed HTTP/1.1 proxy syntax", false),
    MALFORMED_HOST("malformed_host", 400, "requested host is not a valid DNS name", false),
    HOST_HEADER_MISMATCH("host_header_mismatch", 400, "Host header does not match the request target", false),
    METHOD_NOT_ALLOWED("method_not_allowed", 405, "method is not supported by this proxy", false),
    HEAD_TOO_LARGE("head_too_large", 431, "request head is larger than the limit", false),
    HEAD_TIMEOUT("head_timeout", 408, "request head was not received in time", false),
    CLIENT_NOT_ALLOWED("client_not_allowed", 403, "this client address may not use the proxy", false),
    TOO_MANY_CONNECTIONS("too_many_connections", 503, "proxy is at its connection limit", false),
    IP_LITERAL("ip_literal", 403, "destinations must be names; IP addresses are never allowed", false),
    HOST_NOT_ALLOWED("host_not_allowed", 403, "host is not on the allowlist", true),
    PORT_NOT_ALLOWED("port_not_allowed", 403, "host is on the allowlist, but not with this port", true),
    PROXY_ITSELF("proxy_itself", 403, "destination is this proxy", false),
    METADATA_ADDRESS("metadata_address", 403, "name resolves to a cloud instance-metadata address", false),
    LOOPBACK_ADDRESS("loopback_address", 403, "name resolves to a loopback address", true),
    PRIVATE_ADDRESS("private_address", 403, "name resolves to a private address", true),
    CGNAT_ADDRESS("cgnat_address", 403, "name resolves to a carrier-grade NAT address", true),
    LINK_LOCAL_ADDRESS("link_local_address", 403, "name resolves to a link-local address", true),
    MULTICAST_ADDRESS("multicast_address", 403, "name resolves to a multicast address", true),
    UNSPECIFIED_ADDRESS("unspecified_address", 403, "name resolves to an unspecified address", true),
    DOCUMENTATION_ADDRESS("documentation_address", 403, "name resolves to a documentation address", true),
    BENCHMARK_ADDRESS("benchmark_address", 403, "name resolves to a benchmarking address", true),
    RESERVED_ADDRESS("reserved_address", 403, "name resolves to a reserved or tunnelling address", true),
    DNS_FAILED("dns_failed", 502, "name did not resolve", false),
    CONNECT_FAILED("connect_failed", 502, "could not connect to the destination", false),
    NOT_TLS("not_tls", 0, "tunnel to a TLS port did not start with a TLS ClientHello", true),
    SNI_MISSING("sni_missing", 0, "TLS ClientHello has no server name", true),
    SNI_MISMATCH("sni_mismatch", 0, "TLS server name differs from the CONNECT host", true);

    private final String code;
    private final int status;
    private final String text;
    private final boolean reportable;

    Reason(String code, int status, String text, boolean reportable) {
        this.code = code;
        this.status = status;
        this.text = text;
        this.reportable = reportable;
    }

    public String code() {
        return code;
    }

    /** HTTP status sent to the client, or 0 when the reply is closing an open tunnel. */
    public int status() {
        return status;
    }

    public String text() {
        return text;
    }

    public boolean reportable() {
        return reportable;
    }

    public static Reason forClass(AddressClass c) {
        return switch (c) {
            case PUBLIC -> ALLOWED;
            case METADATA -> METADATA_ADDRESS;
            case LOOPBACK -> LOOPBACK_ADDRESS;
            case PRIVATE -> PRIVATE_ADDRESS;
            case CGNAT -> CGNAT_ADDRESS;
            case LINK_LOCAL -> LINK_LOCAL_ADDRESS;
            case MULTICAST -> MULTICAST_ADDRESS;
            case UNSPECIFIED -> UNSPECIFIED_ADDRESS;
            case DOCUMENTATION -> DOCUMENTATION_ADDRESS;
            case BENCHMARK -> BENCHMARK_ADDRESS;
            case RESERVED -> RESERVED_ADDRESS;
        };
    }
}
