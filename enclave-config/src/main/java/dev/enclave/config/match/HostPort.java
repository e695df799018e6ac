package dev.enclave.config.match;

/**
 * A requested destination: a normalised DNS name and a TCP port.
 *
 * <p>Only names are represented; an IP literal never becomes a {@code HostPort} (see
 * {@link HostName#normalize}), so nothing downstream can mistake an address for an allowed name.
 */
public record HostPort(String host, int port) {

    public HostPort {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
        }
    }

    /**
     * Parses authority form {@code host:port} (a CONNECT target). The port is required and must be
     * plain decimal without sign or leading zero: {@code :0443}, {@code :+443}, {@code :443abc} are
     * refused as malformed rather than guessed at.
     */
    public static HostPort parse(String authority) throws HostSyntaxException {
        int colon = authority.lastIndexOf(':');
        if (colon < 0) {
            throw new HostSyntaxException(HostSyntaxException.Kind.MALFORMED, "missing port (expected host:port)");
        }
        int port = parsePort(authority.substring(colon + 1));
        String host = authority.substring(0, colon);
        return new HostPort(HostName.normalize(host), port);
    }

    /** Parses a decimal TCP port 1-65535 with no sign, spaces or leading zeros. */
    public static int parsePort(String digits) throws HostSyntaxException {
        if (digits.isEmpty() || digits.length() > 5 || digits.charAt(0) == '0') {
            throw badPort(digits);
        }
        int port = 0;
        for (int i = 0; i < digits.length(); i++) {
            char c = digits.charAt(i);
            if (c < '0' || c > '9') {
                throw badPort(digits);
            }
            port = port * 10 + (c - '0');
        }
        if (port > 65535) {
            throw badPort(digits);
        }
        return port;
    }

    private static HostSyntaxException badPort(String digits) {
        return new HostSyntaxException(HostSyntaxException.Kind.MALFORMED,
                "bad port '" + digits + "' (expected 1-65535, plain decimal)");
    }

    @Override
    public String toString() {
        return host + ":" + port;
    }
}
