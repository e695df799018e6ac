package dev.enclave.config;

import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import dev.enclave.config.match.IpLiteral;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads the {@code host:} section:
 * <pre>
 * host:
 *   gateway_source: 10.77.1.1          # where the gateway's connections to the app come from
 *   allow:                             # extra ways out, IPv4 only; each needs a reason to exist
 *     - { to: 169.254.169.123, port: 123, protocol: udp }   # NTP (Amazon Time Sync)
 *     - { to: 172.17.0.0/16 }                               # every TCP port of a Docker bridge
 * </pre>
 */
final class HostSectionReader {
    static final Set<String> KEYS = new LinkedHashSet<>(List.of("gateway_source", "allow"));
    private static final Set<String> ALLOW = new LinkedHashSet<>(List.of("to", "port", "protocol"));
    private static final Cidr METADATA = Cidr.parse("169.254.169.254/32");

    private HostSectionReader() {
    }

    static HostConfig host(YamlSection s) {
        if (s == null) {
            return null;
        }
        Inet4Address gatewaySource = s.value("gateway_source", HostSectionReader::ipv4, null);
        List<HostConfig.Allow> allow = new ArrayList<>();
        for (YamlSection a : s.sections("allow", ALLOW)) {
            Cidr to = a.required("to", HostSectionReader::destination);
            Integer port = a.value("port", HostSectionReader::port, null);
            String protocol = a.value("protocol", HostSectionReader::protocol, "tcp");
            if (to != null) {
                allow.add(new HostConfig.Allow(to, protocol, port));
            }
        }
        return new HostConfig(gatewaySource, allow);
    }

    private static Inet4Address ipv4(String text) {
        InetAddress address = IpLiteral.toAddress(text);
        if (!(address instanceof Inet4Address v4)) {
            throw new IllegalArgumentException("\"" + text + "\" is not an IPv4 address, e.g. 10.77.1.1");
        }
        return v4;
    }

    /** An IPv4 address or range; never one holding the metadata address, which the firewall always refuses. */
    private static Cidr destination(String text) {
        Cidr cidr = text.contains("/") ? Cidr.parse(text) : Cidr.parse(ipv4(text).getHostAddress() + "/32");
        if (cidr.network().length != 4) {
            throw new IllegalArgumentException("\"" + text + "\" is IPv6; the host firewall drops all new IPv6 traffic, give an IPv4 address or range");
        }
        if (cidr.prefix() == 0) {
            throw new IllegalArgumentException("\"" + text + "\" is every address, which would undo the firewall; name the destination");
        }
        if (cidr.contains(METADATA.network())) {
            throw new IllegalArgumentException("\"" + text + "\" holds 169.254.169.254, the cloud metadata service, which the host firewall always refuses; narrow the range");
        }
        return cidr;
    }

    private static Integer port(String text) {
        try {
            return HostPort.parsePort(text);
        } catch (HostSyntaxException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
    }

    private static String protocol(String text) {
        if (!text.equals("tcp") && !text.equals("udp")) {
            throw new IllegalArgumentException("\"" + text + "\" is not one of tcp | udp");
        }
        return text;
    }
}
