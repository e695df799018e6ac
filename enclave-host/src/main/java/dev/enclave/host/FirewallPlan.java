package dev.enclave.host;

import dev.enclave.config.ConfigException;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.HostConfig;
import dev.enclave.config.LlmConfig;
import dev.enclave.config.Target;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * What the host firewall lets through, taken from {@code enclave.yaml}: the ways out of the app
 * side (the egress proxy, each LLM relay, each {@code host.allow} entry) and the one way in (the
 * gateway's source address to the app's port). Everything not named here is dropped.
 *
 * @param source        where the plan comes from (a config file, or the built-in local defaults)
 * @param gatewaySource the only address that may open connections to the app side
 * @param appPorts      the TCP ports it may open them to
 * @param destinations  the only destinations the app side may open connections to, in rule order
 */
public record FirewallPlan(String source, Inet4Address gatewaySource, List<Integer> appPorts,
                           List<Destination> destinations) {

    public FirewallPlan {
        appPorts = List.copyOf(appPorts);
        destinations = List.copyOf(destinations);
    }

    /**
     * The local target's defaults, used when no config file is given: the host side of the veth
     * (10.77.1.1) runs the egress proxy on 3128 and the LLM relay on 4000 and is where the gateway's
     * connections to the app (10.77.1.2:3000) come from.
     */
    public static FirewallPlan localDefaults() {
        Inet4Address host = ipv4(HostConfig.LOCAL_GATEWAY_SOURCE);
        return new FirewallPlan("built-in local defaults", host, List.of(3000), List.of(
                new Destination(host.getHostAddress(), "tcp", 3128, "egress proxy", "egress.listen"),
                new Destination(host.getHostAddress(), "tcp", 4000, "llm relay openai", "llm[0].listen")));
    }

    /** The plan for {@code config}; every missing or unusable value is reported together, naming its key. */
    public static FirewallPlan from(EnclaveConfig config) throws ConfigException {
        String file = config.source();
        List<String> problems = new ArrayList<>();
        List<Destination> destinations = new ArrayList<>();
        if (config.egress() == null) {
            problems.add(file + ": egress.listen: missing; the host firewall lets the app reach the egress proxy there, e.g. listen: 10.77.1.1:3128");
        } else {
            String address = reachable(config.egress().listen(), "egress.listen", file, problems);
            if (address != null) {
                destinations.add(new Destination(address, "tcp", config.egress().listen().getPort(), "egress proxy", "egress.listen"));
            }
        }
        for (int i = 0; i < config.llm().size(); i++) {
            LlmConfig llm = config.llm().get(i);
            String key = "llm[" + i + "].listen";
            String address = reachable(llm.listen(), key, file, problems);
            Destination relay = new Destination(address, "tcp", llm.listen().getPort(), "llm relay " + llm.preset(), key);
            if (address != null && destinations.stream().noneMatch(d -> d.match().equals(relay.match()))) {
                destinations.add(relay);
            }
        }
        HostConfig host = config.host();
        if (host != null) {
            for (int i = 0; i < host.allow().size(); i++) {
                HostConfig.Allow a = host.allow().get(i);
                String to = a.to().prefix() == 32 ? a.to().toString().replace("/32", "") : a.to().toString();
                destinations.add(new Destination(to, a.protocol(), a.port(), "host.allow[" + i + "]", "host.allow[" + i + "]"));
            }
        }
        List<Integer> appPorts = new ArrayList<>();
        URI upstream = config.gateway() == null ? null : config.gateway().upstream();
        if (upstream == null) {
            problems.add(file + ": gateway.upstream: missing; the host firewall admits the gateway to the app on this URL's port, e.g. upstream: http://10.77.1.2:3000");
        } else {
            appPorts.add(upstream.getPort() == -1 ? 80 : upstream.getPort());
        }
        Inet4Address gatewaySource = host == null ? null : host.gatewaySource();
        if (gatewaySource == null) {
            if (config.target() == Target.LOCAL) {
                gatewaySource = ipv4(HostConfig.LOCAL_GATEWAY_SOURCE);
            } else {
                problems.add(file + ": host.gateway_source: missing; with target " + config.target().name().toLowerCase(java.util.Locale.ROOT)
                        + " give the address the gateway's connections to the app come from, e.g. gateway_source: 10.0.0.10");
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new FirewallPlan(file, gatewaySource, new ArrayList<>(new LinkedHashSet<>(appPorts)), destinations);
    }

    /** The IPv4 address the app side reaches {@code listen} at; null (and a problem) when it cannot be one. */
    private static String reachable(InetSocketAddress listen, String key, String file, List<String> problems) {
        InetAddress a = listen.getAddress();
        String why = null;
        if (a.isAnyLocalAddress()) {
            why = "is every address; the host firewall needs the one address the app reaches it at";
        } else if (a.isLoopbackAddress()) {
            why = "is loopback, which the app side cannot reach (it has its own)";
        } else if (!(a instanceof Inet4Address)) {
            why = "is IPv6, which the host firewall drops";
        }
        if (why != null) {
            problems.add(file + ": " + key + ": " + a.getHostAddress() + " " + why + "; listen on the host side's IPv4 address, e.g. 10.77.1.1:" + listen.getPort());
            return null;
        }
        return a.getHostAddress();
    }

    private static Inet4Address ipv4(String literal) {
        try {
            return (Inet4Address) InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
