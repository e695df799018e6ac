package dev.enclave.gateway.proxy;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.TimeUnit;

/**
 * Upstream side of the reverse proxy: relays each response to the client as it arrives, writes one
 * access audit line when it ends, and on {@code 101 Switching Protocols} for a WebSocket handshake
 * turns both connections into a raw relay with an idle timeout (default 1 h) instead of the seed
 * design's 60 s read timeout.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter {
    private static final List<String> HOP_BY_HOP = List.of("keep-alive", "proxy-connection", "te", "trailer");
    private final Channel client;
    private final Queue<Exchange> exchanges;
    private final AuditLog audit;
    private final Duration upgradedIdle;

    UpstreamHandler(Channel client, Queue<Exchange> exchanges, AuditLog audit, Duration upgradedIdle) {
        this.client = client;
        this.exchanges = exchanges;
        this.audit = audit;
        this.upgradedIdle = upgradedIdle;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Exchange e = exchanges.peek();
        if (msg instanceof HttpResponse r) {
            if (e != null) {
                e.status = r.status().code();
                if (r.status().equals(HttpResponseStatus.SWITCHING_PROTOCOLS) && e.upgrade) {
                    switchToRelay(ctx, r, e);
                    return;
                }
                HOP_BY_HOP.forEach(r.headers()::remove);
                if (!e.keepAlive) {
                    r.headers().set(HttpHeaderNames.CONNECTION, "close");
                }
            }
        }
        if (msg instanceof HttpContent c && e != null) {
            e.bytesOut += c.content().readableBytes();
        }
        client.write(msg, client.voidPromise());
        if (msg instanceof LastHttpContent && e != null) {
            exchanges.poll();
            auditAccess(audit, client, e);
            if (!e.keepAlive) {
                client.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            client.pipeline().fireUserEventTriggered(ExchangeDone.INSTANCE);
        }
        if (!client.isWritable()) {
            client.flush();
            if (!client.isWritable()) {
                ctx.channel().config().setAutoRead(false); // ProxyHandler resumes it when the client drains
            }
        }
    }

    private void switchToRelay(ChannelHandlerContext ctx, HttpResponse r, Exchange e) {
        exchanges.poll();
        auditAccess(audit, client, e);
        client.writeAndFlush(r); // encoded now, by the client pipeline's response encoder
        long idle = upgradedIdle.toMillis();
        ChannelPipeline cp = client.pipeline();
        cp.addLast("idle", new IdleStateHandler(0, 0, idle, TimeUnit.MILLISECONDS));
        cp.addLast("relay", new RawRelayHandler(ctx.channel()));
        for (String name : List.of("decoder", "encoder", "guard", "auth", "login", "proxy")) {
            if (cp.get(name) != null) {
                cp.remove(name);
            }
        }
        ChannelPipeline up = ctx.pipeline();
        up.addLast("idle", new IdleStateHandler(0, 0, idle, TimeUnit.MILLISECONDS));
        up.addLast("raw", new RawRelayHandler(client));
        up.remove(this);
        up.remove("codec"); // hands any bytes after the 101 to the raw relay
    }

    static void auditAccess(AuditLog audit, Channel client, Exchange e) {
        InetSocketAddress source = (InetSocketAddress) client.remoteAddress();
        audit.write(AuditEvent.of("gateway", "access")
                .put("user", e.user)
                .put("source", source == null ? null : source.getAddress().getHostAddress())
                .put("method", e.method)
                .put("path", e.path)
                .put("status", e.status)
                .put("bytes", e.bytesOut)
                .put("duration_ms", (System.nanoTime() - e.startNanos) / 1_000_000));
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        client.flush();
    }

    /** The upstream drained what the client sent: read the client again. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            client.config().setAutoRead(true);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        // The app closed: this client connection cannot be served further.
        client.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }

}
