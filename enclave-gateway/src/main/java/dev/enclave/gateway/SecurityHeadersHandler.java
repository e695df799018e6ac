package dev.enclave.gateway;

import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;

/**
 * Adds the browser security headers to every response the gateway sends, its own and the
 * upstream's: HSTS, no MIME sniffing, no referrer to other origins, and no framing by other sites.
 */
@Sharable
final class SecurityHeadersHandler extends ChannelOutboundHandlerAdapter {
    static final SecurityHeadersHandler INSTANCE = new SecurityHeadersHandler();

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof HttpResponse r) {
            HttpHeaders h = r.headers();
            h.set("Strict-Transport-Security", "max-age=63072000");
            h.set("X-Content-Type-Options", "nosniff");
            h.set("Referrer-Policy", "same-origin");
            if (!h.contains("Content-Security-Policy")) {
                h.set("Content-Security-Policy", "frame-ancestors 'none'");
            }
            h.remove("Server");
        }
        ctx.write(msg, promise);
    }
}
