package dev.enclave.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import dev.enclave.gateway.proxy.ExchangeDone;
import dev.enclave.gateway.proxy.ReadPauses;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.util.List;

/**
 * Refuses requests that parsers could read two ways, before authentication or the upstream sees
 * them. The decoder in front (strict line parsing, RFC 9112 transfer-encoding rules) already
 * fails Content-Length with Transfer-Encoding, differing repeated Content-Length, a
 * Transfer-Encoding whose last coding is not chunked, bare CR/LF, NUL and invalid header names;
 * this handler turns those failures into 400/431 and adds: exactly one Host on HTTP/1.1, no
 * absolute-form target naming another authority, HTTP/1.0 and 1.1 only, no {@code CONNECT} (the
 * gateway is no tunnel) or {@code TRACE} (it would echo the headers the gateway adds) (405), no
 * WebSocket handshake from another site's page (403, see {@link #crossSiteWebSocket}). For an h2 stream (which
 * Netty has already validated and converted) {@link Http2Requests} checks first. A refused request
 * closes the connection (on h2: the stream) and never reaches the upstream. A refused request
 * pipelined behind accepted ones is answered after their responses, so every answer still matches
 * its request.
 */
final class RequestGuardHandler extends ChannelInboundHandlerAdapter {
    private boolean refused;
    /** Requests passed on whose responses are not complete yet. */
    private int outstanding;
    private FullHttpResponse deferred;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (refused) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest req) {
            if (req.method().equals(HttpMethod.CONNECT) || req.method().equals(HttpMethod.TRACE)) {
                refused = true;
                ReferenceCountUtil.release(msg);
                FullHttpResponse r = Responses.text(HttpResponseStatus.METHOD_NOT_ALLOWED,
                        "enclave gateway: " + req.method() + " is not forwarded to the app");
                r.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
                answer(ctx, r);
                return;
            }
            String why = ctx.channel() instanceof Http2StreamChannel ? Http2Requests.check(req) : null;
            if (why == null) {
                why = check(req);
            }
            if (why == null && crossSiteWebSocket(req)) {
                refused = true;
                ReferenceCountUtil.release(msg);
                answer(ctx, Responses.text(HttpResponseStatus.FORBIDDEN, "enclave gateway: a WebSocket opened by another"
                        + " site (Origin " + req.headers().get(HttpHeaderNames.ORIGIN) + ") is not forwarded to the app"));
                return;
            }
            if (why != null) {
                refused = true;
                ReferenceCountUtil.release(msg);
                HttpResponseStatus status = req.decoderResult().cause() instanceof TooLongFrameException
                        ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE : HttpResponseStatus.BAD_REQUEST;
                answer(ctx, Responses.text(status, "enclave gateway: " + why));
                return;
            }
            outstanding++;
        } else if (msg instanceof HttpContent c && c.decoderResult().isFailure()) {
            refused = true;
            ReferenceCountUtil.release(msg);
            answer(ctx, Responses.text(HttpResponseStatus.BAD_REQUEST, "enclave gateway: malformed body"));
            return;
        }
        ctx.fireChannelRead(msg);
    }

    /** Sends the refusal now, or once the responses to the requests before it are complete. */
    private void answer(ChannelHandlerContext ctx, FullHttpResponse refusal) {
        if (outstanding == 0) {
            Responses.sendAndClose(ctx, refusal);
            return;
        }
        deferred = refusal;
        ReadPauses.pause(ctx.channel(), ReadPauses.Reason.REFUSING);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ExchangeDone && outstanding > 0 && --outstanding == 0 && deferred != null) {
            FullHttpResponse r = deferred;
            deferred = null;
            Responses.sendAndClose(ctx, r);
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (deferred != null) {
            deferred.release();
            deferred = null;
        }
    }

    /**
     * A WebSocket handshake that a page of another site started. Browsers let any page open a
     * WebSocket to any host and send that host's cookies and cached Basic credentials with it, and
     * the same-origin policy does not apply to WebSockets: without this check a page the user
     * visits could drive the agent with the user's session (cross-site WebSocket hijacking). A
     * browser always sends {@code Origin} on a WebSocket handshake; a non-browser client (no
     * Origin, no Sec-Fetch-Site) is let through to authentication as before.
     */
    static boolean crossSiteWebSocket(HttpRequest req) {
        return req.headers().containsValue(HttpHeaderNames.UPGRADE, "websocket", true)
                && LoginPageHandler.crossSite(req);
    }

    static String check(HttpRequest req) {
        if (req.decoderResult().isFailure()) {
            return "malformed request (" + req.decoderResult().cause().getMessage() + ")";
        }
        if (req.protocolVersion() != HttpVersion.HTTP_1_1 && req.protocolVersion() != HttpVersion.HTTP_1_0) {
            return "only HTTP/1.0 and HTTP/1.1 are accepted here";
        }
        List<String> hosts = req.headers().getAll(HttpHeaderNames.HOST);
        if (req.protocolVersion() == HttpVersion.HTTP_1_1 && hosts.size() != 1) {
            return "an HTTP/1.1 request needs exactly one Host header";
        }
        String uri = req.uri();
        if (!uri.startsWith("/")) {
            URI u;
            try {
                u = new URI(uri);
            } catch (Exception e) {
                return "malformed request target";
            }
            if (u.getRawAuthority() == null || hosts.isEmpty() || !u.getRawAuthority().equalsIgnoreCase(hosts.get(0))) {
                return "absolute-form request target for another authority";
            }
            String origin = (u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath())
                    + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
            req.setUri(origin);
        }
        return null;
    }
}
