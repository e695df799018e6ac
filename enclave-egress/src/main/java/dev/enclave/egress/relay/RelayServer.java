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
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
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
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.StringJoiner;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The LLM relay: a plain-HTTP/1.1 reverse proxy on the private side that forwards the API's
 * allowed paths to one upstream over verified TLS, with the configured key in place of whatever
 * credential the app sent. Binds and owns its threads; the pipeline is assembled by
 * {@link RelayInitializer}.
 *
 * <p>The upstream is reached under the egress proxy's address policy ({@link EgressPolicy}, built
 * from an egress config whose only allowed destination is the upstream): the same pins
 * ({@code resolve}), the same refusal of loopback/private/metadata addresses unless an
 * {@code allow_cidr} covers them, the same resolver, and never this relay's own address.
 */
public final class RelayServer implements AutoCloseable {
    private final RelaySettings settings;
    private final Supplier<String> key;
    private final AuditLog audit;
    private final RelayCallObserver.Factory observers;
    private final boolean epoll = Epoll.isAvailable();
    private EventLoopGroup group;
    private EgressResolver resolver;
    private Channel serverChannel;
    private volatile RelayRuntime runtime;
    private boolean closed;

    /**
     * @param key supplies the upstream API key for each call (read when the call is made, so a
     *            rotated key takes effect without a restart); never logged
     */
    public RelayServer(RelaySettings settings, Supplier<String> key, AuditLog audit) {
        this(settings, key, audit, RelayBudget.unlimited());
    }

    /** Audits each call's model and token usage ({@link UsageObserver}) and enforces {@code budget}. */
    public RelayServer(RelaySettings settings, Supplier<String> key, AuditLog audit, RelayBudget budget) {
        this(settings, key, audit, UsageObserver.factory(budget));
    }

    public RelayServer(RelaySettings settings, Supplier<String> key, AuditLog audit, RelayCallObserver.Factory observers) {
        this.settings = settings;
        this.key = key;
        this.audit = audit;
        this.observers = observers;
    }

    /**
     * Binds and starts serving; returns the bound address (useful with port 0).
     *
     * @throws IOException naming the address when it cannot be bound, or the CA file when it cannot be read
     */
    public synchronized InetSocketAddress start() throws IOException, InterruptedException {
        SslProvider tlsProvider = RelayTls.defaultProvider();
        SslContext tls = RelayTls.clientContext(settings.extraCa(), tlsProvider);
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        group = new MultiThreadIoEventLoopGroup(Runtime.getRuntime().availableProcessors(), io);
        Class<? extends SocketChannel> socketType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        int connectMillis = (int) settings.connectTimeout().toMillis();
        resolver = new EgressResolver(epoll ? EpollDatagramChannel.class : NioDatagramChannel.class, socketType,
                settings.resolver(), connectMillis);
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, RelayUpstream.WATER_MARK)
                .childHandler(new RelayInitializer(() -> runtime, settings.idleTimeout().toMillis()));
        ChannelFuture bind = b.bind(settings.listen()).await();
        if (!bind.isSuccess()) {
            close();
            InetSocketAddress at = settings.listen();
            throw new IOException("cannot listen on " + at.getAddress().getHostAddress() + ":" + at.getPort()
                    + " (" + RelayUpstream.rootMessage(bind.cause()) + ")", bind.cause());
        }
        serverChannel = bind.channel();
        InetSocketAddress bound = (InetSocketAddress) serverChannel.localAddress();

        HostPort target = settings.upstreamTarget();
        EgressConfig policyConfig = new EgressConfig(bound, List.of(HostPattern.parse(target.toString())),
                settings.allowCidr(), settings.resolve(), settings.resolver(), List.of(), List.of(target.port()),
                EgressMode.ENFORCE, EgressLimits.DEFAULTS, null);
        EgressPolicy policy = new EgressPolicy(policyConfig, Set.of(bound));
        RelayUpstream upstream = new RelayUpstream(target, policy, resolver, tls, socketType, connectMillis);
        runtime = new RelayRuntime(new RelayPathPolicy(settings.routes()),
                new ApiKeyInjector(settings), key, upstream, audit, observers);

        StringJoiner paths = new StringJoiner(" ");
        settings.routes().forEach(r -> paths.add(r.prefix()));
        audit.write(AuditEvent.of("relay", "start")
                .put("listen", bound.getAddress().getHostAddress() + ":" + bound.getPort())
                .put("upstream", settings.upstream().toString())
                .put("preset", settings.preset().id())
                .put("auth_header", settings.authHeader())
                .put("paths", paths.toString())
                .put("allow_cidr", settings.allowCidr().toString())
                .put("transport", epoll ? "epoll" : "nio")
                .put("upstream_tls", tlsProvider == SslProvider.OPENSSL ? "boringssl" : "jdk"));
        return bound;
    }

    /** Stops accepting and closes every connection and the resolver. Safe to call more than once. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (serverChannel != null) {
            serverChannel.close().syncUninterruptibly();
        }
        if (resolver != null) {
            resolver.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
