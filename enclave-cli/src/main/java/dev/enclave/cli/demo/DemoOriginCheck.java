package dev.enclave.cli.demo;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * Lets a WebSocket handshake on the ask path through only when the browser says it comes from
 * this app's own page: an {@code Origin} whose host and port are the request's {@code Host}.
 * A browser sends the gateway's session cookie with a WebSocket opened by any site, and neither
 * the cookie's SameSite nor CORS stops it (cross-site WebSocket hijacking); a page cannot forge
 * {@code Origin}. No {@code Origin} at all is refused too: every browser sends one.
 */
final class DemoOriginCheck extends ChannelInboundHandlerAdapter {
    private final String path;

    DemoOriginCheck(String path) {
        this.path = path;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest req && pathOf(req.uri()).equals(path) && !sameOrigin(req)) {
            ReferenceCountUtil.release(msg);
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.FORBIDDEN,
                    Unpooled.copiedBuffer("open " + path + " from this app's page (its Origin must be this host)\n", StandardCharsets.UTF_8));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
            r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            r.headers().set(HttpHeaderNames.CONNECTION, "close");
            ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        ctx.fireChannelRead(msg);
    }

    static boolean sameOrigin(HttpRequest req) {
        String origin = req.headers().get(HttpHeaderNames.ORIGIN);
        String host = req.headers().get(HttpHeaderNames.HOST);
        if (origin == null || host == null) {
            return false;
        }
        try {
            URI o = URI.create(origin);
            return ("https".equals(o.getScheme()) || "http".equals(o.getScheme())) && o.getRawAuthority() != null
                    && o.getRawAuthority().equalsIgnoreCase(host) && (o.getRawPath() == null || o.getRawPath().isEmpty());
        } catch (IllegalArgumentException e) {
            return false; // e.g. "null" from a sandboxed frame is a valid URI without a scheme; garbage is not
        }
    }

    private static String pathOf(String uri) {
        int q = uri.indexOf('?');
        return q < 0 ? uri : uri.substring(0, q);
    }
}
