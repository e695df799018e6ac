package dev.enclave.gateway.proxy;

import dev.enclave.audit.AuditLog;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.SocketChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Idle HTTP/1.1 keep-alive connections to the app, kept per event loop so a client connection
 * (or an HTTP/2 stream) takes one without locks or a thread hop. A connection comes back here when
 * the client side that used it closes while the connection is idle: no exchange in flight, the
 * last response complete and not {@code Connection: close}, not switched to WebSocket.
 *
 * <p>Bounded: at most {@code maxIdlePerLoop} idle connections per loop (the oldest is closed to
 * make room). An idle connection is closed after {@code idleTimeout}; the default (4 s) stays under
 * the 5 s keep-alive timeout of common app servers (uvicorn, Node), so the gateway lets go of a
 * connection before the app would, rather than racing the app's close with a new request. One the
 * app closes anyway is dropped the moment its close arrives (idle connections keep reading for
 * exactly that) and is never handed out.
 *
 * <p>Everything but construction runs on the event loop that owns the connection.
 */
public final class UpstreamPool {
    public static final int DEFAULT_MAX_IDLE_PER_LOOP = 32;
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(4);

    private final InetSocketAddress address;
    private final Class<? extends SocketChannel> channelType;
    private final AuditLog audit;
    private final Duration upgradedIdle;
    private final int maxIdlePerLoop;
    private final long idleTimeoutNanos;
    private final Map<EventLoop, Idle> idle = new ConcurrentHashMap<>();

    /** The idle connections of one event loop, newest first; touched only on that loop. */
    private static final class Idle {
        final ArrayDeque<UpstreamHandler> connections = new ArrayDeque<>();
        boolean sweepScheduled;
    }

    public UpstreamPool(InetSocketAddress address, Class<? extends SocketChannel> channelType, AuditLog audit,
                        Duration upgradedIdle, int maxIdlePerLoop, Duration idleTimeout) {
        this.address = address;
        this.channelType = channelType;
        this.audit = audit;
        this.upgradedIdle = upgradedIdle;
        this.maxIdlePerLoop = maxIdlePerLoop;
        this.idleTimeoutNanos = idleTimeout.toNanos();
    }

    public InetSocketAddress address() {
        return address;
    }

    AuditLog audit() {
        return audit;
    }

    long idleTimeoutNanos() {
        return idleTimeoutNanos;
    }

    /** The most recently used idle connection of {@code loop} that is still open, or null. */
    UpstreamHandler poll(EventLoop loop) {
        Idle here = idle.get(loop);
        if (here == null) {
            return null;
        }
        long now = System.nanoTime();
        UpstreamHandler h;
        while ((h = here.connections.pollFirst()) != null) {
            if (h.channel().isActive() && !h.idleLongerThan(idleTimeoutNanos, now)) {
                return h;
            }
            h.channel().close();
        }
        return null;
    }

    /** A new connection on {@code loop}; its {@link UpstreamHandler} is in the pipeline once the future succeeds. */
    ChannelFuture connect(EventLoop loop) {
        return new Bootstrap()
                .group(loop)
                .channel(channelType)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, ProxyHandler.WATER_MARK)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(new UpstreamInitializer(this, upgradedIdle))
                .connect(address);
    }

    /** Takes back a connection nobody uses any more: pooled if it can carry another request, else closed. */
    void release(UpstreamHandler h) {
        if (!h.channel().isActive() || !h.reusable()) {
            h.channel().close();
            return;
        }
        EventLoop loop = h.channel().eventLoop();
        Idle here = idle.computeIfAbsent(loop, l -> new Idle());
        if (here.connections.size() >= maxIdlePerLoop) {
            here.connections.pollLast().channel().close();
        }
        here.connections.addFirst(h);
        if (!here.sweepScheduled) {
            here.sweepScheduled = true;
            loop.schedule(() -> sweep(here), idleTimeoutNanos, TimeUnit.NANOSECONDS);
        }
    }

    /** The app closed an idle connection: forget it. */
    void remove(UpstreamHandler h) {
        Idle here = idle.get(h.channel().eventLoop());
        if (here != null) {
            here.connections.remove(h);
        }
    }

    /** Closes connections idle past the timeout (the oldest are at the end), then looks again when the next one expires. */
    private void sweep(Idle here) {
        long now = System.nanoTime();
        UpstreamHandler oldest;
        while ((oldest = here.connections.peekLast()) != null && oldest.idleLongerThan(idleTimeoutNanos, now)) {
            here.connections.pollLast().channel().close();
        }
        if (oldest == null) {
            here.sweepScheduled = false;
            return;
        }
        long wait = Math.max(idleTimeoutNanos - oldest.idleNanos(now), TimeUnit.MILLISECONDS.toNanos(10));
        oldest.channel().eventLoop().schedule(() -> sweep(here), wait, TimeUnit.NANOSECONDS);
    }
}
