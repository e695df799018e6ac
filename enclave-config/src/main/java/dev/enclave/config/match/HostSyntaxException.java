package dev.enclave.config.match;

/**
 * A host or {@code host:port} string that Enclave refuses to treat as a DNS name.
 *
 * <p>{@link Kind#IP_LITERAL} is well-formed but numeric (never matched against name rules);
 * {@link Kind#MALFORMED} is not a valid name at all. Proxies answer the first with 403 and the
 * second with 400.
 */
public final class HostSyntaxException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Why the string is not a name. */
    public enum Kind { MALFORMED, IP_LITERAL }

    private final Kind kind;

    public HostSyntaxException(Kind kind, String message) {
        super(message, null, false, false);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
