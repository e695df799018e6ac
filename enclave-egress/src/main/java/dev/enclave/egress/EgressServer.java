package dev.enclave.egress;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.EgressConfig;
import dev.enclave.egress.policy.EgressPolicy;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
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
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Binds the egress proxy and owns its threads and resolver. The policy can be replaced while
 * running ({@link #reload}); connections already open keep the policy they were admitted under.
 */
public final class EgressServer implements AutoCloseable {
    private final AuditLog audit;
    private final boolean epoll = Epoll.isAvailable();
    private final AtomicInteger open = new AtomicInteger();
    private EgressConfig config;
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private EgressResolver resolver;
    private final java.util.List<Channel> serverChannels = new java.util.ArrayList<>();
    private Set<InetSocketAddress> self = Set.of();
    private volatile EgressRuntime runtime;
    private boolean closed;

    public EgressServer(EgressConfig config, AuditLog audit) {
        this.config = config;
        this.audit = audit;
    }

    /**
     * Binds and starts serving; returns the bound address (useful with port 0).
     *
     * @throws IOException naming the address when it cannot be bound (in use, not local, no permission)
     */
    public InetSocketAddress start() throws IOException, InterruptedException {
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        // One event loop per core: a proxy's work is short and non-blocking, and more loops than
        // cores only add context switches to the tail latency.
        workers = new MultiThreadIoEventLoopGroup(Runtime.getRuntime().availableProcessors(), io);
        Class<? extends DatagramChannel> datagram = epoll ? EpollDatagramChannel.class : NioDatagramChannel.class;
        resolver = new EgressResolver(datagram, socketChannelType(), config.resolver(),
                config.limits().connectTimeout().toMillis());
        ServerBootstrap b = new ServerBootstrap()
                .channel(serverChannelType())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, ConnectRequestHandler.WATER_MARK)
                .childHandler(new EgressInitializer(() -> runtime, open));
        if (epoll) {
            // One listening socket per event loop (SO_REUSEPORT): the kernel spreads connections
            // over them and each loop serves what it accepted, with no hand-off between threads.
            // Only sockets of the same user can join the group.
            InetSocketAddress at = config.listen();
            for (io.netty.util.concurrent.EventExecutor e : workers) {
                EventLoop loop = (EventLoop) e;
                Channel ch = bind(b.clone().group(loop, loop).option(EpollChannelOption.SO_REUSEPORT, true), at);
                serverChannels.add(ch);
                at = (InetSocketAddress) ch.localAddress(); // port 0: the others join the port the first got
            }
        } else {
            boss = new MultiThreadIoEventLoopGroup(1, io);
            serverChannels.add(bind(b.group(boss, workers), config.listen()));
        }
        InetSocketAddress bound = (InetSocketAddress) serverChannels.get(0).localAddress();
        self = selfAddresses(bound);
        runtime = newRuntime(config);
        AuditEvent started = AuditEvent.of("egress", "start")
                .put("listen", bound.getAddress().getHostAddress() + ":" + bound.getPort())
                .put("allow", config.allow().toString())
                .put("allow_cidr", config.allowCidr().toString())
                .put("mode", config.mode().name().toLowerCase(java.util.Locale.ROOT))
                .put("transport", epoll ? "epoll" : "nio");
        audit.write(started);
        return bound;
    }

    private Channel bind(ServerBootstrap b, InetSocketAddress address) throws IOException, InterruptedException {
        io.netty.channel.ChannelFuture bind = b.bind(address).await();
        if (!bind.isSuccess()) {
            close();
            String why = bind.cause().getMessage();
            int colon = why == null ? -1 : why.lastIndexOf(": ");
            throw new IOException("cannot listen on " + address.getAddress().getHostAddress() + ":"
                    + address.getPort() + " (" + (colon >= 0 ? why.substring(colon + 2) : why) + ")", bind.cause());
        }
        return bind.channel();
    }

    /**
     * Replaces the allowlist, pins, client ranges and mode for new connections. Listen address,
     * resolver and limits are fixed at start; a change to those is reported, not applied.
     */
    public synchronized void reload(EgressConfig next) {
        AuditEvent e = AuditEvent.of("egress", "reload")
                .put("allow", next.allow().toString())
                .put("allow_cidr", next.allowCidr().toString())
                .put("mode", next.mode().name().toLowerCase(java.util.Locale.ROOT));
        if (!next.listen().equals(config.listen()) || !next.limits().equals(config.limits())
                || !java.util.Objects.equals(next.resolver(), config.resolver())) {
            e.put("note", "listen, limits and resolver changes need a restart; kept the running values");
        }
        config = new EgressConfig(config.listen(), next.allow(), next.allowCidr(), next.resolve(), config.resolver(),
                next.clients(), next.tlsPorts(), next.mode(), config.limits(), config.audit());
        runtime = newRuntime(config);
        audit.write(e);
    }

    /** Connections currently open (client side). */
    public int openConnections() {
        return open.get();
    }

    private EgressRuntime newRuntime(EgressConfig c) {
        return new EgressRuntime(new EgressPolicy(c, self), resolver, c.limits(), socketChannelType(), audit);
    }

    private Class<? extends SocketChannel> socketChannelType() {
        return epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    private Class<? extends ServerSocketChannel> serverChannelType() {
        return epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /** The bound address, with a wildcard bind expanded to every address of every interface. */
    private static Set<InetSocketAddress> selfAddresses(InetSocketAddress bound) {
        if (!bound.getAddress().isAnyLocalAddress()) {
            return Set.of(bound);
        }
        Set<InetSocketAddress> out = new HashSet<>();
        try {
            for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                    out.add(new InetSocketAddress(a, bound.getPort()));
                }
            }
        } catch (SocketException e) {
            throw new IllegalStateException("listing local addresses: " + e.getMessage(), e);
        }
        return out;
    }

    /** Stops accepting, closes the resolver and threads. Safe to call more than once. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Channel ch : serverChannels) {
            ch.close().syncUninterruptibly();
        }
        if (resolver != null) {
            resolver.close();
        }
        if (boss != null) {
            boss.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS);
        }
        if (workers != null) {
            workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
