package dev.enclave.cli.demo;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.ExecutorService;

/**
 * The demo app's plain HTTP: {@code GET /} (the page), {@code GET /app.js} and {@code /app.css} (its script and style) and
 * {@code POST /reach} (a URL in the body; the egress proxy's answer as text). A POST must carry an
 * {@code X-Demo} header, which a cross-site form cannot set. Responses go out in request order:
 * requests that arrive while a reach runs wait for it.
 */
final class DemoPageHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final String TEXT = "text/plain; charset=utf-8";

    private final DemoReach reach;
    private final ExecutorService workers;
    private final Queue<FullHttpRequest> waiting = new ArrayDeque<>();
    private boolean reaching;

    DemoPageHandler(DemoReach reach, ExecutorService workers) {
        super(false); // requests that wait are released when answered
        this.reach = reach;
        this.workers = workers;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        if (reaching) {
            waiting.add(req);
            return;
        }
        try {
            handle(ctx, req);
        } finally {
            req.release();
        }
    }

    private void handle(ChannelHandlerContext ctx, FullHttpRequest req) {
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        String path = req.uri();
        if (path.equals("/reach")) {
            if (!req.method().equals(HttpMethod.POST) || !req.headers().contains("X-Demo")) {
                send(ctx, keepAlive, HttpResponseStatus.METHOD_NOT_ALLOWED, TEXT, "POST with an X-Demo header, from the page\n");
                return;
            }
            String url = req.content().toString(StandardCharsets.UTF_8);
            reaching = true;
            ctx.channel().config().setAutoRead(false);
            workers.execute(() -> {
                String said = reach.reach(url);
                ctx.executor().execute(() -> reached(ctx, keepAlive, said));
            });
            return;
        }
        if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.HEAD)) {
            send(ctx, keepAlive, HttpResponseStatus.METHOD_NOT_ALLOWED, TEXT, "only GET here\n");
        } else if (path.equals("/")) {
            send(ctx, keepAlive, HttpResponseStatus.OK, "text/html; charset=utf-8", DemoPage.HTML);
        } else if (path.equals("/app.css")) {
            send(ctx, keepAlive, HttpResponseStatus.OK, "text/css; charset=utf-8", DemoPage.STYLE);
        } else if (path.equals("/app.js")) {
            send(ctx, keepAlive, HttpResponseStatus.OK, "text/javascript; charset=utf-8", DemoPage.SCRIPT);
        } else {
            send(ctx, keepAlive, HttpResponseStatus.NOT_FOUND, TEXT, "not found\n");
        }
    }

    /** On the event loop: the reach's answer, then the requests that waited for it. */
    private void reached(ChannelHandlerContext ctx, boolean keepAlive, String said) {
        send(ctx, keepAlive, HttpResponseStatus.OK, TEXT, said);
        reaching = false;
        while (!reaching && !waiting.isEmpty()) {
            FullHttpRequest next = waiting.poll();
            try {
                handle(ctx, next);
            } finally {
                next.release();
            }
        }
        if (!reaching) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        waiting.forEach(FullHttpRequest::release);
        waiting.clear();
        super.channelInactive(ctx);
    }

    private static void send(ChannelHandlerContext ctx, boolean keepAlive, HttpResponseStatus status, String type, String body) {
        if (!ctx.channel().isActive()) {
            return;
        }
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        r.headers().set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
        if (!keepAlive) {
            r.headers().set(HttpHeaderNames.CONNECTION, "close");
            ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.writeAndFlush(r);
        }
    }
}
