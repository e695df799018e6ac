package dev.enclave.egress.relay;

import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.HostPort;
import dev.enclave.egress.EgressResolver;
import dev.enclave.egress.policy.Decision;
import dev.enclave.egress.policy.EgressPolicy;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Connections to the one upstream: opened through the egress proxy's own address policy and
 * resolver (pin, else the relay's DNS lookup; every answer checked by
 * {@link EgressPolicy#checkAddress}; connect to exactly the address checked), then TLS with
 * certificate and host-name verification before any byte of a request is written. When the
 * upstream picks h2 in ALPN, the connection is shared by the calls of its event loop, one stream
 * each; otherwise idle HTTP/1.1 keep-alive connections are pooled per event loop. Either way a
 * call takes its connection without locks.
 */
final class RelayUpstream {
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(64 * 1024, 256 * 1024);
    /** Under the idle timeouts LLM APIs and their CDNs use for keep-alive (typically 60 s and more). */
    private static final long POOL_IDLE_NANOS = 30_000_000_000L;
    private static final int MAX_IDLE_PER_LOOP = 64;

    private final HostPort target;
    private final EgressPolicy policy;
    private final EgressResolver resolver;
    private final SslContext tls;
    private final Class<? extends SocketChannel> channelType;
    private final int connectTimeoutMillis;
    private final Map<EventLoop, ArrayDeque<RelayBackendHandler>> idle = new ConcurrentHashMap<>();
    /** Per loop, the HTTP/2 connection new calls open streams on (when the upstream chose h2 in ALPN). */
    private final Map<EventLoop, Channel> http2 = new ConcurrentHashMap<>();

    RelayUpstream(HostPort target, EgressPolicy policy, EgressResolver resolver, SslContext tls,
                  Class<? extends SocketChannel> channelType, int connectTimeoutMillis) {
        this.target = target;
        this.policy = policy;
        this.resolver = resolver;
        this.tls = tls;
        this.channelType = channelType;
        this.connectTimeoutMillis = connectTimeoutMillis;
    }

    HostPort target() {
        return target;
    }

    /**
     * A connection for one call on {@code loop}: a new stream on the loop's HTTP/2 connection, else
     * an idle pooled HTTP/1.1 connection, else a new connection. Fails with an {@link UpstreamFailure}.
     */
    Future<RelayBackendHandler> acquire(EventLoop loop) {
        Channel shared = http2.get(loop);
        if (shared != null && shared.isActive()) {
            Promise<RelayBackendHandler> done = loop.newPromise();
            openStream(shared, true).addListener((Future<RelayBackendHandler> f) -> {
                if (f.isSuccess()) {
                    done.trySuccess(f.getNow());
                    return;
                }
                // The shared connection is going away (GOAWAY, stream limit): take a new one.
                http2.remove(loop, shared);
                open(loop).addListener((Future<RelayBackendHandler> g) -> {
                    if (g.isSuccess()) {
                        if (!done.trySuccess(g.getNow())) {
                            g.getNow().channel().close();
                        }
                    } else {
                        done.tryFailure(g.cause());
                    }
                });
            });
            return done;
        }
        RelayBackendHandler pooled = poll(loop);
        if (pooled != null) {
            pooled.reused(true);
            return loop.newSucceededFuture(pooled);
        }
        return open(loop);
    }

    /** A new HTTP/2 stream on {@code connection}, with the same HTTP/1-object handlers as an HTTP/1.1 connection. */
    private Future<RelayBackendHandler> openStream(Channel connection, boolean reused) {
        Promise<RelayBackendHandler> done = connection.eventLoop().newPromise();
        new Http2StreamChannelBootstrap(connection)
                .handler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel ch) {
                        ch.pipeline()
                                .addLast("h2-http", new Http2StreamFrameToHttpObjectCodec(false))
                                .addLast("backend", new RelayBackendHandler(RelayUpstream.this));
                    }
                })
                .open()
                .addListener((Future<Http2StreamChannel> f) -> {
                    if (!f.isSuccess()) {
                        done.tryFailure(new UpstreamFailure("connect_failed", "cannot open a stream on the HTTP/2 "
                                + "connection to upstream " + target.host() + ": " + rootMessage(f.cause())));
                        return;
                    }
                    RelayBackendHandler h = f.getNow().pipeline().get(RelayBackendHandler.class);
                    h.reused(reused);
                    if (!done.trySuccess(h)) {
                        f.getNow().close();
                    }
                });
        return done;
    }

    /** The upstream chose h2: this connection becomes the loop's shared one and carries calls as streams. */
    private Future<RelayBackendHandler> switchToHttp2(Channel ch) {
        ChannelPipeline p = ch.pipeline();
        p.remove("codec");
        p.remove("backend");
        p.addLast("h2", Http2FrameCodecBuilder.forClient()
                .initialSettings(Http2Settings.defaultSettings().pushEnabled(false))
                .build());
        p.addLast("streams", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel pushed) {
                pushed.close(); // push is off; a stream the server opens anyway is refused
            }
        }));
        EventLoop loop = ch.eventLoop();
        // Two calls that opened connections at once: the newest serves new calls; the other keeps
        // its streams until they end and the upstream's idle timeout closes it.
        http2.put(loop, ch);
        ch.closeFuture().addListener(f -> http2.remove(loop, ch));
        return openStream(ch, false);
    }

    /** An idle connection on {@code loop}, most recently used first; null when there is none. */
    RelayBackendHandler poll(EventLoop loop) {
        ArrayDeque<RelayBackendHandler> q = idle.get(loop);
        if (q == null) {
            return null;
        }
        RelayBackendHandler h;
        long now = System.nanoTime();
        while ((h = q.pollFirst()) != null) {
            if (h.channel().isActive() && now - h.idleSince() < POOL_IDLE_NANOS) {
                return h;
            }
            h.channel().close();
        }
        return null;
    }

    /** Keeps a connection whose last exchange ended cleanly for the next call on its loop. */
    void release(RelayBackendHandler h) {
        if (!h.channel().isActive()) {
            return;
        }
        ArrayDeque<RelayBackendHandler> q = idle.computeIfAbsent(h.channel().eventLoop(), l -> new ArrayDeque<>());
        q.addFirst(h);
        if (q.size() > MAX_IDLE_PER_LOOP) {
            q.pollLast().channel().close();
        }
    }

    /** A pooled connection closed (the upstream ended it): forget it. */
    void remove(RelayBackendHandler h) {
        ArrayDeque<RelayBackendHandler> q = idle.get(h.channel().eventLoop());
        if (q != null) {
            q.remove(h);
        }
    }

    /** A new connection, verified TLS up; fails with an {@link UpstreamFailure} saying why. */
    Future<RelayBackendHandler> open(EventLoop loop) {
        Promise<RelayBackendHandler> done = loop.newPromise();
        ResolvePin pin = policy.pinFor(target);
        if (pin != null) {
            connectFirstAllowed(loop, EgressResolver.pinned(pin, target), done);
            return done;
        }
        resolver.resolve(target, loop).addListener((Future<List<InetSocketAddress>> f) -> {
            if (!f.isSuccess() || f.getNow().isEmpty()) {
                String why = f.isSuccess() ? "no addresses" : rootMessage(f.cause());
                done.tryFailure(new UpstreamFailure("dns_failed", "cannot resolve upstream " + target.host() + ": " + why));
                return;
            }
            connectFirstAllowed(loop, f.getNow(), done);
        });
        return done;
    }

    private void connectFirstAllowed(EventLoop loop, List<InetSocketAddress> addresses, Promise<RelayBackendHandler> done) {
        Decision refusal = null;
        for (InetSocketAddress a : addresses) {
            Decision d = policy.checkAddress(a);
            if (d.proceeds()) {
                connect(loop, a, done);
                return;
            }
            if (refusal == null) {
                refusal = d;
            }
        }
        done.tryFailure(new UpstreamFailure("address_refused", "upstream " + target.host() + " resolves to "
                + refusal.detail() + ", which the address policy refuses (" + refusal.reason().code() + ": "
                + refusal.reason().text() + "); if that address is intended, allow it with --allow-cidr"));
    }

    private void connect(EventLoop loop, InetSocketAddress address, Promise<RelayBackendHandler> done) {
        String where = target.host() + " (" + address.getAddress().getHostAddress() + ":" + address.getPort() + ")";
        Bootstrap b = new Bootstrap()
                .group(loop)
                .channel(channelType)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        SslHandler ssl = tls.newHandler(ch.alloc(), target.host(), target.port());
                        ssl.setHandshakeTimeoutMillis(connectTimeoutMillis);
                        ch.pipeline()
                                .addLast("tls", ssl)
                                .addLast("codec", new HttpClientCodec(8192, 64 * 1024, 64 * 1024))
                                .addLast("backend", new RelayBackendHandler(RelayUpstream.this));
                    }
                });
        ChannelFuture cf = b.connect(address);
        cf.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                done.tryFailure(new UpstreamFailure("connect_failed", "cannot connect to upstream " + where + ": "
                        + rootMessage(f.cause())));
                return;
            }
            f.channel().pipeline().get(SslHandler.class).handshakeFuture().addListener(h -> {
                if (!h.isSuccess()) {
                    f.channel().close();
                    done.tryFailure(new UpstreamFailure("tls_failed", "TLS with upstream " + where + " failed: "
                            + rootMessage(h.cause()) + " (the relay never falls back to unverified TLS)"));
                    return;
                }
                SslHandler ssl = f.channel().pipeline().get(SslHandler.class);
                if (ApplicationProtocolNames.HTTP_2.equals(ssl.applicationProtocol())) {
                    switchToHttp2(f.channel()).addListener((Future<RelayBackendHandler> s) -> {
                        if (!s.isSuccess()) {
                            done.tryFailure(s.cause());
                        } else if (!done.trySuccess(s.getNow())) {
                            s.getNow().channel().close();
                        }
                    });
                    return;
                }
                if (!done.trySuccess(f.channel().pipeline().get(RelayBackendHandler.class))) {
                    f.channel().close();
                }
            });
        });
    }

    static String rootMessage(Throwable t) {
        String last = String.valueOf(t.getMessage());
        while (t.getCause() != null) {
            t = t.getCause();
            if (t.getMessage() != null) {
                last = t.getMessage();
            }
        }
        return last;
    }
}
