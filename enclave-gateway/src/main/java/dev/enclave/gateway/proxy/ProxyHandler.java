package dev.enclave.gateway.proxy;

import dev.enclave.audit.AuditLog;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Queue;

/**
 * Client side of the reverse proxy: sends each authenticated request to the upstream over one
 * upstream connection per client connection (opened at the first request; a new client
 * connection tries again, so an upstream that comes back is used without a restart). Bodies
 * stream in both directions with water-mark backpressure; nothing is buffered whole.
 *
 * <p>Headers the upstream must be able to trust are set here and client-supplied copies removed:
 * {@code X-Forwarded-For/-Proto/-Host}, {@code X-Forwarded-User} (the authenticated name),
 * {@code Forwarded}, {@code X-Real-IP}. Hop-by-hop headers are dropped, except the
 * {@code Upgrade}/{@code Connection} pair of a WebSocket handshake.
 */
public final class ProxyHandler extends ChannelInboundHandlerAdapter {
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(64 * 1024, 256 * 1024);
    /**
     * Never removed because a client listed them in {@code Connection}: dropping the framing
     * headers would let a body be read upstream as a second, smuggled request.
     */
    private static final java.util.Set<String> NOT_HOP_BY_HOP = java.util.Set.of("content-length", "transfer-encoding",
            "host", "content-type", "upgrade");
    private static final List<String> CLIENT_SUPPLIED = List.of("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
            "x-forwarded-user", "x-forwarded-port", "forwarded", "x-real-ip", "proxy-authorization", "proxy-connection",
            "keep-alive", "te", "trailer");

    private final InetSocketAddress upstreamAddress;
    private final Class<? extends SocketChannel> channelType;
    private final AttributeKey<String> userKey;
    private final AuditLog audit;
    private final Duration upgradedIdle;
    private final Queue<Object> waiting = new ArrayDeque<>();
    private final Queue<Exchange> exchanges = new ArrayDeque<>();
    private Channel upstream;
    private boolean connected;

    public ProxyHandler(InetSocketAddress upstreamAddress, Class<? extends SocketChannel> channelType,
                        AttributeKey<String> userKey, AuditLog audit, Duration upgradedIdle) {
        this.upstreamAddress = upstreamAddress;
        this.channelType = channelType;
        this.userKey = userKey;
        this.audit = audit;
        this.upgradedIdle = upgradedIdle;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest req) {
            exchanges.add(prepare(ctx, req));
        }
        if (upstream == null) {
            connect(ctx);
        }
        if (!connected) {
            waiting.add(msg);
            return;
        }
        forward(ctx, msg);
    }

    private void forward(ChannelHandlerContext ctx, Object msg) {
        upstream.write(msg, upstream.voidPromise());
        if (!upstream.isWritable()) {
            upstream.flush();
            if (!upstream.isWritable()) {
                ctx.channel().config().setAutoRead(false); // UpstreamHandler resumes it when upstream drains
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (connected) {
            upstream.flush();
        }
    }

    /** The client drained what the upstream sent: read the upstream again. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && upstream != null) {
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
        return new Exchange(req.method().name(), req.uri(), user, proto, keepAlive, upgrade);
    }

    private void connect(ChannelHandlerContext ctx) {
        Channel client = ctx.channel();
        ChannelFuture f = new Bootstrap()
                .group(client.eventLoop())
                .channel(channelType)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(new UpstreamInitializer(client, exchanges, audit, upgradedIdle))
                .connect(upstreamAddress);
        upstream = f.channel();
        f.addListener((ChannelFuture done) -> {
            if (!done.isSuccess()) {
                waiting.forEach(ReferenceCountUtil::release);
                waiting.clear();
                Exchange e = exchanges.poll();
                if (e != null) {
                    e.status = HttpResponseStatus.BAD_GATEWAY.code();
                    UpstreamHandler.auditAccess(audit, client, e);
                }
                io.netty.handler.codec.http.FullHttpResponse r = new io.netty.handler.codec.http.DefaultFullHttpResponse(
                        HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_GATEWAY, io.netty.buffer.Unpooled.copiedBuffer(
                        "enclave gateway: the app is not answering (" + upstreamAddress + "); it may be starting, try again shortly\n",
                        java.nio.charset.StandardCharsets.UTF_8));
                r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
                r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
                r.headers().set(HttpHeaderNames.CONNECTION, "close");
                client.writeAndFlush(r).addListener(io.netty.channel.ChannelFutureListener.CLOSE);
                return;
            }
            if (!client.isActive()) {
                waiting.forEach(ReferenceCountUtil::release);
                waiting.clear();
                done.channel().close();
                return;
            }
            connected = true;
            while (!waiting.isEmpty()) {
                forward(ctx, waiting.poll());
            }
            upstream.flush();
        });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        waiting.forEach(ReferenceCountUtil::release);
        waiting.clear();
        if (upstream != null) {
            upstream.close();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
