package dev.enclave.egress.policy;

import dev.enclave.config.EgressConfig;
import dev.enclave.config.EgressMode;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.AddressClass;
import dev.enclave.config.match.AddressClassifier;
import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import dev.enclave.config.match.HostPort;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;

/**
 * Decides whether the app may reach a destination. Pure: no I/O, no Netty; the proxy asks it in
 * this fixed order and stops at the first denial:
 * <ol>
 *   <li>{@link #checkClient}: the source address is in {@code clients} (when set);</li>
 *   <li>{@link #checkName}: the normalised name and port match an allow entry; a name allowed
 *       only on other ports is {@code port_not_allowed}, anything else {@code host_not_allowed}
 *       (IP literals never get here: the request parser refuses them as {@code ip_literal});</li>
 *   <li>{@link #checkAddress}: each resolved address is never this proxy or the metadata service,
 *       and is public unless an {@code allow_cidr} covers it;</li>
 *   <li>{@link #checkSni}: on a TLS port, the ClientHello's server name equals the CONNECT host.</li>
 * </ol>
 * In report mode a denial whose reason is {@link Reason#reportable()} becomes
 * {@link Verdict#REPORT_WOULD_DENY}.
 */
public final class EgressPolicy {
    private final List<HostPattern> allow;
    private final List<Cidr> allowCidr;
    private final List<Cidr> clients;
    private final List<ResolvePin> pins;
    private final Set<Integer> tlsPorts;
    private final EgressMode mode;
    private final Set<InetSocketAddress> self;

    /**
     * @param self every concrete address and port this proxy accepts on (a wildcard bind expanded
     *             to the host's interface addresses), never to be a destination
     */
    public EgressPolicy(EgressConfig config, Set<InetSocketAddress> self) {
        this.allow = config.allow();
        this.allowCidr = config.allowCidr();
        this.clients = config.clients();
        this.pins = config.resolve();
        this.tlsPorts = Set.copyOf(config.tlsPorts());
        this.mode = config.mode();
        this.self = Set.copyOf(self);
    }

    public EgressMode mode() {
        return mode;
    }

    public Decision checkClient(InetAddress client) {
        if (clients.isEmpty()) {
            return Decision.allow(null, null);
        }
        for (Cidr cidr : clients) {
            if (cidr.contains(client)) {
                return Decision.allow(cidr.toString(), null);
            }
        }
        return Decision.deny(Reason.CLIENT_NOT_ALLOWED, client.getHostAddress());
    }

    public Decision checkName(HostPort target) {
        boolean nameKnown = false;
        for (HostPattern p : allow) {
            if (p.matches(target)) {
                return Decision.allow(p.toString(), null);
            }
            nameKnown |= p.matchesName(target.host());
        }
        return enforce(Decision.deny(nameKnown ? Reason.PORT_NOT_ALLOWED : Reason.HOST_NOT_ALLOWED, target.toString()));
    }

    /** The pin configured for {@code target}, or null when DNS decides. */
    public ResolvePin pinFor(HostPort target) {
        for (ResolvePin pin : pins) {
            if (pin.appliesTo(target)) {
                return pin;
            }
        }
        return null;
    }

    public Decision checkAddress(InetSocketAddress destination) {
        InetAddress address = destination.getAddress();
        String where = destination.getAddress().getHostAddress() + ":" + destination.getPort();
        if (isSelf(destination)) {
            return Decision.deny(Reason.PROXY_ITSELF, where);
        }
        AddressClass cls = AddressClassifier.classify(address);
        if (cls == AddressClass.METADATA) {
            return Decision.deny(Reason.METADATA_ADDRESS, where);
        }
        if (cls == AddressClass.PUBLIC) {
            return Decision.allow(null, where);
        }
        for (Cidr cidr : allowCidr) {
            if (cidr.contains(address)) {
                return Decision.allow("allow_cidr " + cidr, where);
            }
        }
        return enforce(Decision.deny(Reason.forClass(cls), where));
    }

    public boolean requiresTls(int port) {
        return tlsPorts.contains(port);
    }

    /** {@code sni} is the server name from the ClientHello, null when it had none. */
    public Decision checkSni(HostPort target, String sni) {
        if (sni == null) {
            return enforce(Decision.deny(Reason.SNI_MISSING, target.host()));
        }
        if (!sni.equals(target.host())) {
            return enforce(Decision.deny(Reason.SNI_MISMATCH, sni + " != " + target.host()));
        }
        return Decision.allow(null, sni);
    }

    public Decision notTls(HostPort target) {
        return enforce(Decision.deny(Reason.NOT_TLS, target.toString()));
    }

    private boolean isSelf(InetSocketAddress destination) {
        for (InetSocketAddress s : self) {
            if (s.getPort() == destination.getPort() && s.getAddress().equals(destination.getAddress())) {
                return true;
            }
        }
        return false;
    }

    private Decision enforce(Decision denial) {
        if (mode == EgressMode.REPORT && denial.reason().reportable()) {
            return new Decision(Verdict.REPORT_WOULD_DENY, denial.reason(), null, denial.detail());
        }
        return denial;
    }
}
