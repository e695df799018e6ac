package dev.enclave.egress;

import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.HostPort;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.resolver.HostsFileEntriesResolver;
import io.netty.resolver.ResolvedAddressTypes;
import io.netty.resolver.dns.DnsAddressResolverGroup;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.DnsServerAddressStreamProviders;
import io.netty.resolver.dns.SingletonDnsServerAddressStreamProvider;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * Turns an allowed name into the addresses the proxy may connect to: a configured pin first,
 * otherwise the proxy's own DNS lookup (never the client's). The caller connects to one of exactly
 * these addresses, so an answer that changes between check and connect (DNS rebinding) cannot matter.
 *
 * <p>Search domains are off (an allowlisted name is absolute). With an explicit resolver,
 * {@code /etc/hosts} is not consulted either, so the configured server is the only source of answers.
 *
 * <p>Public because the LLM relay ({@code dev.enclave.egress.relay}) resolves its upstream with
 * the same resolver and pins: one way to turn a name into an address for everything that leaves.
 */
public final class EgressResolver implements AutoCloseable {
    private final DnsAddressResolverGroup group;

    public EgressResolver(Class<? extends DatagramChannel> datagram, Class<? extends SocketChannel> stream,
                   InetSocketAddress server, long queryTimeoutMillis) {
        DnsNameResolverBuilder builder = new DnsNameResolverBuilder()
                .datagramChannelType(datagram)
                .socketChannelType(stream)
                .searchDomains(List.of())
                .ndots(1)
                .queryTimeoutMillis(queryTimeoutMillis)
                .resolvedAddressTypes(ResolvedAddressTypes.IPV4_PREFERRED);
        if (server != null) {
            builder.nameServerProvider(new SingletonDnsServerAddressStreamProvider(server))
                    .hostsFileEntriesResolver((name, types) -> null);
        } else {
            builder.nameServerProvider(DnsServerAddressStreamProviders.platformDefault())
                    .hostsFileEntriesResolver(HostsFileEntriesResolver.DEFAULT);
        }
        this.group = new DnsAddressResolverGroup(builder);
    }

    /** The answer a pin gives for {@code target}: its address, on the pin's port if it redirects one. */
    public static List<InetSocketAddress> pinned(ResolvePin pin, HostPort target) {
        return List.of(new InetSocketAddress(pin.address(), pin.connectPort(target.port())));
    }

    public Future<List<InetSocketAddress>> resolve(HostPort target, EventLoop loop) {
        return group.getResolver(loop).resolveAll(InetSocketAddress.createUnresolved(target.host(), target.port()));
    }

    @Override
    public void close() {
        group.close();
    }
}
