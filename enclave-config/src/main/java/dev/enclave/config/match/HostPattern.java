package dev.enclave.config.match;

/**
 * One allow rule: an exact {@code host:port}, or {@code *.domain:port} which matches every name
 * strictly below {@code domain} (never {@code domain} itself) on that port.
 *
 * <p>Suffix matching is done on whole labels: {@code *.llm.test} matches {@code eu.llm.test} and
 * {@code a.b.llm.test} but not {@code evilllm.test} or {@code llm.test.evil.test}.
 */
public record HostPattern(String domain, boolean wildcard, int port) {

    /** Parses an allow entry; the message of the exception says how to write it instead. */
    public static HostPattern parse(String entry) throws IllegalArgumentException {
        int colon = entry.lastIndexOf(':');
        if (colon < 0 || colon < entry.lastIndexOf(']')) {
            throw new IllegalArgumentException("\"" + entry + "\" has no port; write host:port, e.g. \"" + entry + ":443\"");
        }
        int port;
        try {
            port = HostPort.parsePort(entry.substring(colon + 1));
        } catch (HostSyntaxException e) {
            throw new IllegalArgumentException("\"" + entry + "\": " + e.getMessage());
        }
        String host = entry.substring(0, colon);
        boolean wildcard = host.startsWith("*.");
        if (wildcard) {
            host = host.substring(2);
        }
        if (host.contains("*")) {
            throw new IllegalArgumentException("\"" + entry + "\": '*' is only allowed as the whole first label, e.g. \"*.example.com:443\"");
        }
        String domain;
        try {
            domain = HostName.normalize(host);
        } catch (HostSyntaxException e) {
            if (e.kind() == HostSyntaxException.Kind.IP_LITERAL) {
                throw new IllegalArgumentException("\"" + entry + "\" is an IP address; allow entries are names "
                        + "(to reach a private range through an allowed name, add allow_cidr)");
            }
            throw new IllegalArgumentException("\"" + entry + "\": " + e.getMessage());
        }
        if (wildcard && !domain.contains(".")) {
            throw new IllegalArgumentException("\"" + entry + "\" covers a whole top-level domain; list exact hosts");
        }
        return new HostPattern(domain, wildcard, port);
    }

    /** True when {@code target} is covered by this rule (name and port). */
    public boolean matches(HostPort target) {
        return port == target.port() && matchesName(target.host());
    }

    /** True when the name alone is covered, whatever the port. */
    public boolean matchesName(String host) {
        if (!wildcard) {
            return host.equals(domain);
        }
        return host.length() > domain.length() + 1
                && host.endsWith(domain)
                && host.charAt(host.length() - domain.length() - 1) == '.';
    }

    @Override
    public String toString() {
        return (wildcard ? "*." : "") + domain + ":" + port;
    }
}
