package dev.enclave.config;

import dev.enclave.config.match.Cidr;
import java.net.Inet4Address;
import java.util.List;

/**
 * The {@code host:} section: what the host firewall ({@code enclave host}) needs beyond the
 * addresses it takes from {@code egress.listen}, {@code llm[].listen} and {@code gateway.upstream}.
 *
 * @param gatewaySource the address the gateway's connections to the app come from; null means the
 *                      local target's host side of the veth, {@link #LOCAL_GATEWAY_SOURCE}
 * @param allow         extra destinations the app side may open connections to (IPv4 only: the
 *                      firewall drops all new IPv6 traffic)
 */
public record HostConfig(Inet4Address gatewaySource, List<Allow> allow) {
    /** The host side of the local target's veth pair. */
    public static final String LOCAL_GATEWAY_SOURCE = "10.77.1.1";

    public HostConfig {
        allow = List.copyOf(allow);
    }

    /**
     * One extra destination: {@code to} (an address or range), over {@code protocol} (tcp or udp),
     * to {@code port}, or to every port when it is null.
     */
    public record Allow(Cidr to, String protocol, Integer port) {
    }
}
