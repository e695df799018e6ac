package dev.enclave.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.regex.Pattern;

/** The plain-HTTP listener: every request gets a 301 to the same path over HTTPS. */
final class RedirectHandler extends SimpleChannelInboundHandler<HttpRequest> {
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9.-]{1,253}|\\[[0-9A-Fa-f:.]{2,45}\\]");
    private final int httpsPort;

    RedirectHandler(int httpsPort) {
        this.httpsPort = httpsPort;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpRequest req) {
        String host = req.headers().get(HttpHeaderNames.HOST, "");
        int colon = host.lastIndexOf(':');
        if (colon > 0 && host.indexOf(']') < colon) {
            host = host.substring(0, colon);
        }
        String path = req.uri().startsWith("/") ? req.uri() : "/";
        if (req.decoderResult().isFailure() || !HOST.matcher(host).matches()) {
            Responses.sendAndClose(ctx, Responses.text(HttpResponseStatus.BAD_REQUEST, "enclave gateway: use https"));
            return;
        }
        FullHttpResponse r = Responses.text(HttpResponseStatus.MOVED_PERMANENTLY, "enclave gateway: use https");
        r.headers().set(HttpHeaderNames.LOCATION, "https://" + host + (httpsPort == 443 ? "" : ":" + httpsPort) + path);
        Responses.sendAndClose(ctx, r);
    }
}
