package dev.enclave.config;

import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code egress:} section.
 *
 * @param listen    where the proxy accepts connections
 * @param allow     names (and ports) the app may reach
 * @param allowCidr destination ranges that allowed names may resolve to although their class is denied
 * @param resolve   fixed answers that take precedence over DNS
 * @param resolver  DNS server to ask, or null for the system's resolv.conf
 * @param clients   source ranges allowed to use the proxy; empty means any
 * @param tlsPorts  ports on which the tunnel must start with a TLS ClientHello whose SNI is the CONNECT host
 * @param audit     audit log file, or null for standard output
 */
public record EgressConfig(InetSocketAddress listen, List<HostPattern> allow, List<Cidr> allowCidr,
                           List<ResolvePin> resolve, InetSocketAddress resolver, List<Cidr> clients,
                           List<Integer> tlsPorts, EgressMode mode, EgressLimits limits, Path audit) {

    public static final InetSocketAddress DEFAULT_LISTEN = new InetSocketAddress("127.0.0.1", 3128);
    public static final List<Integer> DEFAULT_TLS_PORTS = List.of(443);

    public EgressConfig {
        allow = List.copyOf(allow);
        allowCidr = List.copyOf(allowCidr);
        resolve = List.copyOf(resolve);
        clients = List.copyOf(clients);
        tlsPorts = List.copyOf(tlsPorts);
    }

    public static EgressConfig defaults() {
        return new EgressConfig(DEFAULT_LISTEN, List.of(), List.of(), List.of(), null, List.of(),
                DEFAULT_TLS_PORTS, EgressMode.ENFORCE, EgressLimits.DEFAULTS, null);
    }
}
