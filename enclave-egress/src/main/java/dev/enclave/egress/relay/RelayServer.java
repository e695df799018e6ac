package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.EgressConfig;
import dev.enclave.config.EgressLimits;
import dev.enclave.config.EgressMode;
import dev.enclave.config.match.HostPattern;
import dev.enclave.config.match.HostPort;
import dev.enclave.egress.EgressResolver;
import dev.enclave.egress.policy.EgressPolicy;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.StringJoiner;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The LLM relay: a plain-HTTP/1.1 reverse proxy on the private side that forwards the API's
 * allowed paths to an upstream over verified TLS, with the configured key in place of whatever
 * credential the app sent. One listener serves one or more upstreams ({@link Entry}), each with its
 * own path prefixes (disjoint), key, auth header and budget; a call goes to the upstream whose
 * prefix covers its path ({@link RelayRouter}). Binds and owns its threads; the pipeline is
 * assembled by {@link RelayInitializer}.
 *
 * <p>Each upstream is reached under the egress proxy's address policy ({@link EgressPolicy}, built
 * from an egress config whose only allowed destination is that upstream): the same pins
 * ({@code resolve}), the same refusal of loopback/private/metadata addresses unless an
 * {@code allow_cidr} covers them, the same resolver, and never this relay's own address.
 */
public final class RelayServer implements AutoCloseable {
    /**
     * One upstream served on the listener.
     *
     * @param settings  what it serves; every entry of one server has the same listen address, idle
     *                  timeout and limits
     * @param key       its API key, asked for each call (so a rotated key file takes effect without a restart)
     * @param observers its calls' observers ({@link UsageObserver#factory} for usage audit and budget)
     */
    public record Entry(RelaySettings settings, RelayKeySource key, RelayCallObserver.Factory observers) {
    }

    private final List<Entry> entries;
    private final AuditLog audit;
    private final boolean epoll = Epoll.isAvailable();
    private EventLoopGroup group;
    private final List<EgressResolver> resolvers = new ArrayList<>();
    private final List<Channel> serverChannels = new ArrayList<>();
    private volatile RelayRouter router;
    private boolean closed;

    /**
     * @param key supplies the upstream API key for each call (read when the call is made); never logged
     */
    public RelayServer(RelaySettings settings, Supplier<String> key, AuditLog audit) {
        this(settings, key, audit, RelayBudget.unlimited());
    }

    /** Audits each call's model and token usage ({@link UsageObserver}) and enforces {@code budget}. */
    public RelayServer(RelaySettings settings, Supplier<String> key, AuditLog audit, RelayBudget budget) {
        this(settings, key, audit, UsageObserver.factory(budget));
    }

    public RelayServer(RelaySettings settings, Supplier<String> key, AuditLog audit, RelayCallObserver.Factory observers) {
        this(List.of(new Entry(settings, RelayKeySource.of(key), observers)), audit);
    }

    /**
     * @throws IllegalArgumentException when the entries differ in listen address, idle timeout or
     *                                  limits, or two of them serve overlapping paths
     */
    public RelayServer(List<Entry> entries, AuditLog audit) {
        if (entries.isEmpty()) {
            throw new IllegalArgumentException("a relay needs at least one upstream");
        }
        RelaySettings first = entries.get(0).settings();
        for (Entry e : entries) {
            RelaySettings s = e.settings();
            if (!s.listen().equals(first.listen()) || !s.idleTimeout().equals(first.idleTimeout())
                    || s.maxConnections() != first.maxConnections() || !s.headTimeout().equals(first.headTimeout())) {
                throw new IllegalArgumentException("upstreams " + first.upstream() + " and " + s.upstream() + " on one relay"
                        + " need the same listen address, idle timeout and limits");
            }
        }
        RelayRouter.checkDisjoint(entries.stream().map(Entry::settings).toList());
        this.entries = List.copyOf(entries);
        this.audit = audit;
    }

    /**
     * Binds and starts serving; returns the bound address (useful with port 0).
     *
     * @throws IOException naming the address when it cannot be bound, or the CA file when it cannot be read
     */
    public synchronized InetSocketAddress start() throws IOException, InterruptedException {
        SslProvider tlsProvider = RelayTls.defaultProvider();
        RelaySettings listener = entries.get(0).settings();
        List<SslContext> tls = new ArrayList<>();
        for (Entry e : entries) {
            tls.add(RelayTls.clientContext(e.settings().extraCa(), tlsProvider));
        }
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        group = new MultiThreadIoEventLoopGroup(Runtime.getRuntime().availableProcessors(), io);
        Class<? extends SocketChannel> socketType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        ServerBootstrap b = new ServerBootstrap()
                .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, RelayUpstream.WATER_MARK)
                .childHandler(new RelayInitializer(() -> router, listener));
        if (epoll) {
            // One listening socket per event loop (SO_REUSEPORT), as the egress proxy does: the kernel
            // spreads connections over them and each loop serves what it accepted, with no hand-off
            // between threads. Only sockets of the same user can join the group.
            InetSocketAddress at = listener.listen();
            for (EventExecutor e : group) {
                EventLoop loop = (EventLoop) e;
                Channel ch = bind(b.clone().group(loop, loop).option(EpollChannelOption.SO_REUSEPORT, true), at);
                serverChannels.add(ch);
                at = (InetSocketAddress) ch.localAddress(); // port 0: the others join the port the first got
            }
        } else {
            serverChannels.add(bind(b.group(group), listener.listen()));
        }
        InetSocketAddress bound = (InetSocketAddress) serverChannels.get(0).localAddress();
        String listen = bound.getAddress().getHostAddress() + ":" + bound.getPort();

        List<RelayRuntime> runtimes = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            Entry entry = entries.get(i);
            RelaySettings settings = entry.settings();
            int connectMillis = (int) settings.connectTimeout().toMillis();
            EgressResolver resolver = new EgressResolver(epoll ? EpollDatagramChannel.class : NioDatagramChannel.class,
                    socketType, settings.resolver(), connectMillis);
            resolvers.add(resolver);
            HostPort target = settings.upstreamTarget();
            EgressConfig policyConfig = new EgressConfig(bound, List.of(HostPattern.parse(target.toString())),
                    settings.allowCidr(), settings.resolve(), settings.resolver(), List.of(), List.of(target.port()),
                    EgressMode.ENFORCE, EgressLimits.DEFAULTS, null);
            EgressPolicy policy = new EgressPolicy(policyConfig, Set.of(bound));
            RelayUpstream upstream = new RelayUpstream(target, policy, resolver, tls.get(i), socketType, connectMillis);
            runtimes.add(new RelayRuntime(new RelayPathPolicy(settings.routes()), new ApiKeyInjector(settings),
                    entry.key(), upstream, audit, entry.observers()));
        }
        router = new RelayRouter(listen, runtimes, audit);

        for (Entry entry : entries) {
            RelaySettings settings = entry.settings();
            StringJoiner paths = new StringJoiner(" ");
            settings.routes().forEach(r -> paths.add(r.prefix()));
            audit.write(AuditEvent.of("relay", "start")
                    .put("listen", listen)
                    .put("upstream", settings.upstream().toString())
                    .put("preset", settings.preset().id())
                    .put("auth_header", settings.authHeader())
                    .put("paths", paths.toString())
                    .put("allow_cidr", settings.allowCidr().toString())
                    .put("max_connections", settings.maxConnections())
                    .put("head_timeout_ms", settings.headTimeout().toMillis())
                    .put("transport", epoll ? "epoll" : "nio")
                    .put("upstream_tls", tlsProvider == SslProvider.OPENSSL ? "boringssl" : "jdk"));
        }
        return bound;
    }

    private Channel bind(ServerBootstrap b, InetSocketAddress at) throws IOException, InterruptedException {
        ChannelFuture bind = b.bind(at).await();
        if (!bind.isSuccess()) {
            close();
            throw new IOException("cannot listen on " + at.getAddress().getHostAddress() + ":" + at.getPort()
                    + " (" + RelayUpstream.rootMessage(bind.cause()) + ")", bind.cause());
        }
        return bind.channel();
    }

    /** Stops accepting and closes every connection and the resolvers. Safe to call more than once. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        serverChannels.forEach(ch -> ch.close().syncUninterruptibly());
        resolvers.forEach(EgressResolver::close);
        if (group != null) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
