package dev.enclave.gateway.proxy;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.GatewayCookies;

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
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
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
 *
 * <p>A connection outlives the client connection that opened it: {@link ProxyHandler} binds it
 * to a client for as long as that client uses it, and the {@link UpstreamPool} holds it in between.
 * This handler knows whether the connection can carry another request ({@link #reusable()}).
 * Interim {@code 1xx} responses (e.g. {@code 100 Continue}) are relayed without ending the exchange.
 * {@code Set-Cookie} headers for the gateway's own cookies are dropped. A response whose body ends only when the app closes (neither Content-Length nor chunked) goes to
 * an HTTP/1 client with {@code Connection: close}, and the client connection closes after it: on
 * a kept-alive connection the client could not tell where it ends.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter {
    private static final List<String> HOP_BY_HOP = List.of("keep-alive", "proxy-connection", "te", "trailer");
    private final UpstreamPool pool;
    private final Duration upgradedIdle;
    private Channel channel;
    private ProxyHandler owner;
    private Channel client;
    private Queue<Exchange> exchanges;
    private boolean interim;
    private boolean reusable = true;
    /** The response in progress ends when the app closes: the client connection must end with it. */
    private boolean closeDelimited;
    private int completed;
    private long idleSince = System.nanoTime();

    UpstreamHandler(UpstreamPool pool, Duration upgradedIdle) {
        this.pool = pool;
        this.upgradedIdle = upgradedIdle;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    Channel channel() {
        return channel;
    }

    /** This connection now serves {@code owner}'s client, whose requests are queued in {@code exchanges}. */
    void bind(ProxyHandler owner, Channel client, Queue<Exchange> exchanges) {
        this.owner = owner;
        this.client = client;
        this.exchanges = exchanges;
        channel.config().setAutoRead(true);
    }

    /** Nobody uses this connection now; it keeps reading so a close by the app is noticed at once. */
    void unbind() {
        owner = null;
        client = null;
        exchanges = null;
        idleSince = System.nanoTime();
        channel.config().setAutoRead(true);
    }

    /** Whether every response so far was complete and allowed another request on this connection. */
    boolean reusable() {
        return reusable && !interim;
    }

    /** Whether this connection has carried a whole exchange: a failure on it may be an app-side close of an idle connection. */
    boolean everCompleted() {
        return completed > 0;
    }

    long idleNanos(long now) {
        return now - idleSince;
    }

    boolean idleLongerThan(long nanos, long now) {
        return now - idleSince > nanos;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Exchange e = exchanges == null ? null : exchanges.peek();
        if (e == null) {
            // A response nobody asked for (or data on an idle connection): the app and the gateway
            // no longer agree on this connection's state; drop it.
            ReferenceCountUtil.release(msg);
            reusable = false;
            ctx.close();
            return;
        }
        e.answered = true;
        if (msg instanceof HttpResponse r) {
            int code = r.status().code();
            if (code == HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
                reusable = false;
                if (e.upgrade) {
                    e.status = code;
                    switchToRelay(ctx, r, e);
                    return;
                }
            } else if (code < 200) {
                interim = true; // e.g. 100 Continue: the final response follows on this exchange
            } else {
                e.status = code;
                if (!HttpUtil.isKeepAlive(r)) {
                    reusable = false;
                }
                if (!(client instanceof Http2StreamChannel) && closeDelimited(r, e)) {
                    // Only the close can tell the client where this body ends.
                    closeDelimited = true;
                    reusable = false;
                }
            }
            HOP_BY_HOP.forEach(r.headers()::remove);
            dropGatewayCookies(r);
            if ((!e.keepAlive || closeDelimited) && !interim) {
                r.headers().set(HttpHeaderNames.CONNECTION, "close");
            }
        }
        if (msg instanceof HttpContent c) {
            e.bytesOut += c.content().readableBytes();
        }
        client.write(msg, client.voidPromise());
        if (msg instanceof LastHttpContent) {
            if (interim) {
                interim = false;
            } else {
                exchanges.poll();
                completed++;
                idleSince = System.nanoTime();
                auditAccess(pool.audit(), client, e);
                if (!e.keepAlive || closeDelimited) {
                    client.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                    return;
                }
                client.pipeline().fireUserEventTriggered(ExchangeDone.INSTANCE);
            }
        }
        if (client != null && !client.isWritable()) {
            client.flush();
            if (!client.isWritable()) {
                ctx.channel().config().setAutoRead(false); // ProxyHandler resumes it when the client drains
            }
        }
    }

    /** The app may not set (or clear) the gateway's own session and CSRF cookies. */
    private static void dropGatewayCookies(HttpResponse r) {
        List<String> cookies = r.headers().getAll(HttpHeaderNames.SET_COOKIE);
        if (cookies.stream().anyMatch(GatewayCookies::setsOurs)) {
            r.headers().remove(HttpHeaderNames.SET_COOKIE);
            cookies.stream().filter(c -> !GatewayCookies.setsOurs(c)).forEach(c -> r.headers().add(HttpHeaderNames.SET_COOKIE, c));
        }
    }

    /** A response that may have a body but has neither Content-Length nor chunked framing (RFC 9112 6.3). */
    private static boolean closeDelimited(HttpResponse r, Exchange e) {
        int code = r.status().code();
        return code != HttpResponseStatus.NO_CONTENT.code() && code != HttpResponseStatus.NOT_MODIFIED.code()
                && !"HEAD".equals(e.method)
                && !r.headers().contains(HttpHeaderNames.CONTENT_LENGTH) && !HttpUtil.isTransferEncodingChunked(r);
    }

    private void switchToRelay(ChannelHandlerContext ctx, HttpResponse r, Exchange e) {
        exchanges.poll();
        auditAccess(pool.audit(), client, e);
        client.writeAndFlush(r); // encoded now, by the client pipeline's response encoder
        long idle = upgradedIdle.toMillis();
        ChannelPipeline cp = client.pipeline();
        cp.addLast("idle", new IdleStateHandler(0, 0, idle, TimeUnit.MILLISECONDS));
        cp.addLast("relay", new RawRelayHandler(ctx.channel()));
        for (String name : List.of("decoder", "encoder", "clientIdle", "guard", "auth", "login", "proxy")) {
            if (cp.get(name) != null) {
                cp.remove(name);
            }
        }
        ChannelPipeline up = ctx.pipeline();
        up.addLast("idle", new IdleStateHandler(0, 0, idle, TimeUnit.MILLISECONDS));
        up.addLast("raw", new RawRelayHandler(client));
        owner = null; // the relay owns both connections now; this one never returns to the pool
        up.remove(this);
        up.remove("codec"); // hands any bytes after the 101 to the raw relay
    }

    static void auditAccess(AuditLog audit, Channel client, Exchange e) {
        InetSocketAddress source = (InetSocketAddress) client.remoteAddress();
        int query = e.path.indexOf('?');
        audit.write(AuditEvent.of("gateway", "access")
                .put("user", e.user)
                .put("source", source == null ? null : source.getAddress().getHostAddress())
                .put("proto", e.proto)
                .put("method", e.method)
                .put("path", query < 0 ? e.path : e.path.substring(0, query))
                .put("query", query >= 0) // whether there was one: query strings carry tokens, the audit log keeps none
                .put("status", e.status)
                .put("bytes", e.bytesOut)
                .put("duration_ms", (System.nanoTime() - e.startNanos) / 1_000_000));
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (client != null) {
            client.flush();
        }
    }

    /** The upstream drained what the client sent: read the client again, unless it is paused for another reason. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && client != null) {
            ReadPauses.resume(client, ReadPauses.Reason.UPSTREAM_FULL);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        reusable = false;
        if (owner != null) {
            owner.upstreamClosed(this);
        } else {
            pool.remove(this);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
