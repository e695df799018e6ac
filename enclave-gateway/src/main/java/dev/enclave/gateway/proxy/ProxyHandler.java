package dev.enclave.gateway.proxy;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCounted;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Queue;
import java.util.Set;

/**
 * Client side of the reverse proxy: sends each authenticated request to the app over one upstream
 * connection at a time, taken from the {@link UpstreamPool} at the first request (or opened; a
 * new attempt is made for every client connection, so an app that comes back is used without a
 * restart) and given back when the client connection closes with that connection idle. An h2
 * stream is a client connection of its own here: a stream that ends with its exchange complete
 * gives its upstream connection back, one reset mid-exchange closes it. Bodies stream in both
 * directions with water-mark backpressure; nothing is buffered whole.
 *
 * <p>A reused connection can turn out closed by the app just as a request goes out. If it fails
 * before any of the response arrived, requests that are safe to repeat (idempotent methods without
 * a body) are sent once more on a new connection; anything else gets 502. If the app closes a
 * connection between requests, the next request simply takes another.
 *
 * <p>Headers the upstream must be able to trust are set here and client-supplied copies removed:
 * {@code X-Forwarded-For/-Proto/-Host}, {@code X-Forwarded-User} (the authenticated name),
 * {@code Forwarded}, {@code X-Real-IP}; client copies of {@code X-Remote-User}, {@code Remote-User},
 * {@code X-Forwarded-Server/-Prefix/-Port} and any header whose name contains {@code _} (which
 * CGI-style servers read as {@code -}) are dropped. Hop-by-hop headers are dropped, except the
 * {@code Upgrade}/{@code Connection} pair of a WebSocket handshake.
 */
public final class ProxyHandler extends ChannelInboundHandlerAdapter {
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(64 * 1024, 256 * 1024);
    /**
     * Never removed because a client listed them in {@code Connection}: dropping the framing
     * headers would let a body be read upstream as a second, smuggled request.
     */
    private static final Set<String> NOT_HOP_BY_HOP = Set.of("content-length", "transfer-encoding",
            "host", "content-type", "upgrade");
    private static final List<String> CLIENT_SUPPLIED = List.of("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
            "x-forwarded-user", "x-forwarded-port", "forwarded", "x-real-ip", "proxy-authorization", "proxy-connection",
            "keep-alive", "te", "trailer", "x-remote-user", "remote-user", "x-forwarded-server", "x-forwarded-prefix");
    /** RFC 9110 idempotent methods; with no body such a request may be sent twice. */
    private static final Set<HttpMethod> REPEATABLE = Set.of(HttpMethod.GET, HttpMethod.HEAD, HttpMethod.OPTIONS,
            HttpMethod.TRACE, HttpMethod.PUT, HttpMethod.DELETE);

    private final UpstreamPool upstreams;
    private final AttributeKey<String> userKey;
    private final Queue<Object> waiting = new ArrayDeque<>();
    private final Queue<Exchange> exchanges = new ArrayDeque<>();
    private ChannelHandlerContext ctx;
    /** The upstream connection in use (maybe still connecting), or null. */
    private Channel upstream;
    /** Its handler, once connected. */
    private UpstreamHandler relay;
    /** A request head went upstream whose body has not ended yet. */
    private boolean requestOpen;

    public ProxyHandler(UpstreamPool upstreams, AttributeKey<String> userKey) {
        this.upstreams = upstreams;
        this.userKey = userKey;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest req) {
            if (relay != null && exchanges.isEmpty() && !requestOpen
                    && relay.idleLongerThan(upstreams.idleTimeoutNanos(), System.nanoTime())) {
                // Idle as long as the pool would keep it: the app may be about to close it.
                dropUpstream();
            }
            exchanges.add(prepare(ctx, req));
        }
        if (upstream == null) {
            acquire();
        }
        if (relay == null) {
            waiting.add(msg);
            return;
        }
        forward(msg);
    }

    private void forward(Object msg) {
        if (msg instanceof HttpRequest) {
            requestOpen = true;
        }
        if (msg instanceof LastHttpContent) {
            requestOpen = false;
        }
        upstream.write(msg, upstream.voidPromise());
        if (!upstream.isWritable()) {
            upstream.flush();
            if (!upstream.isWritable()) {
                ReadPauses.pause(ctx.channel(), ReadPauses.Reason.UPSTREAM_FULL); // UpstreamHandler resumes when it drains
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (relay != null) {
            upstream.flush();
        }
    }

    /** The client drained what the upstream sent: read the upstream again. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && relay != null) {
            upstream.config().setAutoRead(true);
        }
        ctx.fireChannelWritabilityChanged();
    }

    private Exchange prepare(ChannelHandlerContext ctx, HttpRequest req) {
        HttpHeaders h = req.headers();
        boolean upgrade = h.contains(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true)
                && h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true);
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        String host = h.get(HttpHeaderNames.HOST, "");
        for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String name : token.split(",")) {
                String n = name.strip().toLowerCase(java.util.Locale.ROOT);
                if (!n.isEmpty() && !NOT_HOP_BY_HOP.contains(n)) {
                    h.remove(n);
                }
            }
        }
        h.remove(HttpHeaderNames.CONNECTION);
        CLIENT_SUPPLIED.forEach(h::remove);
        // CGI-style servers read X_Forwarded_User as X-Forwarded-User: no name with '_' goes on.
        h.names().stream().filter(n -> n.indexOf('_') >= 0).toList().forEach(h::remove);
        if (upgrade) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
        } else {
            h.remove(HttpHeaderNames.UPGRADE);
        }
        InetSocketAddress client = (InetSocketAddress) ctx.channel().remoteAddress();
        String user = ctx.channel().attr(userKey).get();
        h.set("X-Forwarded-For", client.getAddress().getHostAddress());
        h.set("X-Forwarded-Proto", "https");
        h.set("X-Forwarded-Host", host);
        h.set("X-Forwarded-User", user);
        String proto = ctx.channel() instanceof Http2StreamChannel ? "h2" : req.protocolVersion().text().toLowerCase(java.util.Locale.ROOT);
        req.setProtocolVersion(HttpVersion.HTTP_1_1);
        boolean repeatable = REPEATABLE.contains(req.method()) && !HttpUtil.isTransferEncodingChunked(req)
                && HttpUtil.getContentLength(req, 0L) == 0;
        HttpRequest replay = !repeatable ? null
                : req instanceof ReferenceCounted ? new DefaultHttpRequest(req.protocolVersion(), req.method(), req.uri(), h)
                : req;
        return new Exchange(req.method().name(), req.uri(), user, proto, keepAlive, upgrade, replay);
    }

    /** Takes an idle pooled connection, or starts a new one (requests wait in {@code waiting} meanwhile). */
    private void acquire() {
        UpstreamHandler pooled = upstreams.poll(ctx.channel().eventLoop());
        if (pooled != null) {
            use(pooled);
            return;
        }
        connect();
    }

    private void connect() {
        ChannelFuture f = upstreams.connect(ctx.channel().eventLoop());
        upstream = f.channel();
        f.addListener((ChannelFuture done) -> connected(done));
    }

    private void connected(ChannelFuture done) {
        if (done.channel() != upstream) {
            done.channel().close(); // given up on meanwhile
            return;
        }
        if (!done.isSuccess()) {
            upstream = null;
            badGateway("the app is not answering (" + upstreams.address() + "); it may be starting, try again shortly");
            return;
        }
        UpstreamHandler h = done.channel().pipeline().get(UpstreamHandler.class);
        if (!ctx.channel().isActive()) {
            upstream = null;
            waiting.forEach(ReferenceCountUtil::release); // what arrived after the client left
            waiting.clear();
            upstreams.release(h); // unused and clean: the next client can have it
            return;
        }
        use(h);
        while (!waiting.isEmpty()) {
            forward(waiting.poll());
        }
        upstream.flush();
    }

    private void use(UpstreamHandler h) {
        relay = h;
        upstream = h.channel();
        h.bind(this, ctx.channel(), exchanges);
    }

    /** Stops using the current upstream connection and closes it. */
    private void dropUpstream() {
        if (relay != null) {
            relay.unbind();
        }
        ReadPauses.resume(ctx.channel(), ReadPauses.Reason.UPSTREAM_FULL); // a closed connection never drains
        if (upstream != null) {
            upstream.close();
        }
        relay = null;
        upstream = null;
    }

    /** Called by the bound {@link UpstreamHandler} when the app's side of the connection closed. */
    void upstreamClosed(UpstreamHandler h) {
        if (h != relay) {
            return;
        }
        h.unbind();
        relay = null;
        upstream = null;
        ReadPauses.resume(ctx.channel(), ReadPauses.Reason.UPSTREAM_FULL); // a closed connection never drains
        if (exchanges.isEmpty() && !requestOpen) {
            return; // closed between requests: the next request takes another connection
        }
        if (h.everCompleted() && !requestOpen && exchanges.stream().allMatch(e -> e.replay != null && !e.answered)) {
            // Most likely the app closed this idle keep-alive connection just as the request left.
            for (Exchange e : exchanges) {
                waiting.add(e.replay);
                waiting.add(LastHttpContent.EMPTY_LAST_CONTENT);
            }
            connect();
            return;
        }
        Exchange current = exchanges.peek();
        if (current != null && !current.answered) {
            badGateway("the app closed the connection without answering");
            return;
        }
        ctx.channel().writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE); // mid-response: cut
    }

    /** The 502 page for the exchange at the head, audited; the client connection closes after it. */
    private void badGateway(String why) {
        waiting.forEach(ReferenceCountUtil::release);
        waiting.clear();
        Exchange e = exchanges.poll();
        if (e != null) {
            e.status = HttpResponseStatus.BAD_GATEWAY.code();
            UpstreamHandler.auditAccess(upstreams.audit(), ctx.channel(), e);
        }
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_GATEWAY,
                Unpooled.copiedBuffer("enclave gateway: " + why + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        r.headers().set(HttpHeaderNames.CONNECTION, "close");
        ctx.channel().writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }

    /** The client left: an idle upstream connection goes back to the pool, a busy one is closed. */
    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        waiting.forEach(ReferenceCountUtil::release);
        waiting.clear();
        if (relay != null) {
            UpstreamHandler h = relay;
            relay = null;
            upstream = null;
            h.unbind();
            if (exchanges.isEmpty() && !requestOpen) {
                upstreams.release(h);
            } else {
                h.channel().close();
            }
        }
        // Still connecting: connected() sees the client gone and pools the new connection.
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
