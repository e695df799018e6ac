package dev.enclave.egress.relay;

/** Why no upstream connection could be had: the one line the client's 502 and the audit line carry. */
final class UpstreamFailure extends Exception {
    private static final long serialVersionUID = 1L;
    private final String code;

    UpstreamFailure(String code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    /** Stable reason code: dns_failed, address_refused, connect_failed, tls_failed. */
    String code() {
        return code;
    }
}
