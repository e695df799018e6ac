package dev.enclave.config.match;

/**
 * What kind of destination an IP address is. Only {@link #PUBLIC} is reachable by default;
 * {@link #METADATA} is never reachable, whatever the configuration says.
 */
public enum AddressClass {
    PUBLIC("public", "a public unicast address"),
    UNSPECIFIED("unspecified", "an unspecified or 'this network' address (0.0.0.0/8, ::)"),
    LOOPBACK("loopback", "a loopback address (127.0.0.0/8, ::1)"),
    PRIVATE("private", "a private address (RFC 1918, fc00::/7, fec0::/10)"),
    CGNAT("cgnat", "a carrier-grade NAT address (100.64.0.0/10)"),
    LINK_LOCAL("link_local", "a link-local address (169.254.0.0/16, fe80::/10)"),
    METADATA("metadata", "a cloud instance-metadata address (169.254.169.254, fd00:ec2::254)"),
    MULTICAST("multicast", "a multicast address (224.0.0.0/4, ff00::/8)"),
    DOCUMENTATION("documentation", "a documentation address (TEST-NET, 2001:db8::/32)"),
    BENCHMARK("benchmark", "a benchmarking address (198.18.0.0/15, 2001:2::/48)"),
    RESERVED("reserved", "a reserved or tunnelling address (240.0.0.0/4, 192.0.0.0/24, Teredo, non-global IPv6)");

    private final String code;
    private final String description;

    AddressClass(String code, String description) {
        this.code = code;
        this.description = description;
    }

    /** Stable snake_case name used in audit lines and metrics. */
    public String code() {
        return code;
    }

    public String description() {
        return description;
    }
}
