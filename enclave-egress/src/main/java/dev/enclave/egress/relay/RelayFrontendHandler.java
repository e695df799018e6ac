package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Client side of the relay: one call at a time per client connection. A request head is checked
 * ({@link RelayPathPolicy}, then the {@link RelayCallObserver}), rewritten ({@link ApiKeyInjector})
 * and sent on an upstream connection taken from the pool or opened; its body and the response
 * stream through as they arrive, with read-after-drain backpressure on both connections (a side
 * whose peer is over its write high-water mark stops being read until the peer drains).
 *
 * <p>A refused request is answered here and its body read and dropped, so the connection stays
 * usable; nothing of it reaches the upstream. A client that goes away mid-call closes the upstream
 * connection, which cancels the request there. A request pipelined behind one still being answered
 * waits, unread past that point, until the answer ends.
 *
 * <p>A reused HTTP/1.1 connection that the upstream closes before any byte of the answer (its
 * keep-alive timeout meeting our request) gets the request once more on a new connection, if what
 * was sent fits in 64 KiB; otherwise, and on a new connection, that close is a 502.
 */
final class RelayFrontendHandler extends ChannelInboundHandlerAdapter {
    /**
     * Response headers not passed to the app: hop-by-hop ones, {@code Alt-Svc} (it names the
     * upstream's other endpoints, useless and misleading behind the relay), and {@code Set-Cookie}
     * (the relay sends no cookies upstream, so the app has no use for the upstream's).
     */
    private static final List<AsciiString> RESPONSE_DROPPED = Stream.of("keep-alive", "proxy-connection", "te", "trailer",
            "upgrade", "alt-svc", "set-cookie").map(AsciiString::cached).toList();

    private final RelayRouter router;
    private final RelayHeadTimeout headTimer;
    /** The upstream of the call in progress (or the last one); null for a call refused before it had one. */
    private RelayRuntime route;
    private ChannelHandlerContext ctx;
    /** The call in progress: its request being read or its response written; null between calls. */
    private RelayCall call;
    private RelayCallObserver observer = RelayCallObserver.NONE;
    /** The upstream connection lent to the call; null while connecting or when there is none. */
    private RelayBackendHandler backend;
    private boolean connecting;
    /** Request parts read while the upstream connection was being opened. */
    private final ArrayDeque<Object> pending = new ArrayDeque<>();
    /** A pipelined next request, read while the current one was still being answered. */
    private final ArrayDeque<Object> held = new ArrayDeque<>();
    private boolean requestDone;
    /** Swallowing the rest of a request body that was answered without the upstream. */
    private boolean discarding;
    private boolean closeAfterResponse;
    /** Copies of what went upstream on a reused HTTP/1.1 connection, while they fit in {@link #MAX_REPLAY_BYTES}. */
    private final ArrayDeque<Object> replay = new ArrayDeque<>();
    private long replayBytes;
    private boolean replayable;
    private static final int MAX_REPLAY_BYTES = 64 * 1024;

    RelayFrontendHandler(RelayRouter router, RelayHeadTimeout headTimer) {
        this.router = router;
        this.headTimer = headTimer;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!ctx.channel().isActive() && msg instanceof HttpRequest req && req.decoderResult().isFailure()) {
            // The codec's last word on a connection closed mid-head (the client left, or the head
            // timeout closed it and audited why): not a call, nobody to answer.
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest) {
            headTimer.headArrived();
        }
        if (msg instanceof LastHttpContent) {
            headTimer.requestEnded();
        }
        if (!held.isEmpty() || call != null && requestDone) {
            held.add(msg);
            updateReading();
            return;
        }
        handle(msg);
    }

    private void handle(Object msg) {
        if (msg instanceof HttpRequest req) {
            startCall(req);
        }
        if (msg instanceof HttpContent c) {
            requestContent(c);
        } else if (!(msg instanceof HttpRequest)) {
            ReferenceCountUtil.release(msg);
        }
    }

    private void startCall(HttpRequest req) {
        headTimer.callStarted();
        requestDone = false;
        closeAfterResponse = !HttpUtil.isKeepAlive(req);
        String method = req.method().name();
        InetSocketAddress client = (InetSocketAddress) ctx.channel().remoteAddress();
        if (req.decoderResult().isFailure()) {
            route = router.only();
            call = new RelayCall(client.getAddress(), method, "-", false);
            observer = RelayCallObserver.NONE;
            refuse(400, "bad_request", "request is not valid HTTP/1.1 ("
                    + RelayUpstream.rootMessage(req.decoderResult().cause()) + ")", null, true);
            return;
        }
        String uri = req.uri();
        if (!req.protocolVersion().equals(HttpVersion.HTTP_1_1)) {
            int q = uri.indexOf('?');
            route = router.only();
            call = new RelayCall(client.getAddress(), method, q < 0 ? uri : uri.substring(0, q), q >= 0);
            observer = RelayCallObserver.NONE;
            // An HTTP/1.0 client cannot read a chunked (streamed) answer.
            refuse(505, "http_version", "the relay speaks HTTP/1.1 only", null, true);
            return;
        }
        RelayRouter.Routed routed = router.route(method, uri);
        route = routed.runtime();
        RelayPathPolicy.Outcome outcome = routed.outcome();
        int q = uri.indexOf('?');
        String auditPath = outcome instanceof RelayPathPolicy.Allowed a ? a.path() : q < 0 ? uri : uri.substring(0, q);
        call = new RelayCall(client.getAddress(), method, auditPath, q >= 0);
        observer = RelayCallObserver.NONE;
        // A client waiting for 100 Continue sends no body after a refusal: close instead of waiting for one.
        boolean expectsContinue = HttpUtil.is100ContinueExpected(req);
        if (outcome instanceof RelayPathPolicy.Refused r) {
            refuse(r.status(), r.code(), r.text(), r.allow(), expectsContinue);
            return;
        }
        HttpHeaders h = req.headers();
        List<String> codings = h.contains(HttpHeaderNames.TRANSFER_ENCODING) ? h.getAll(HttpHeaderNames.TRANSFER_ENCODING) : List.of();
        if (!codings.isEmpty() && !(codings.size() == 1 && codings.get(0).strip().equalsIgnoreCase("chunked"))) {
            closeAfterResponse = true;
            refuse(400, "bad_request", "only Transfer-Encoding: chunked is accepted", null, true);
            return;
        }
        call.requestContentType = h.get(HttpHeaderNames.CONTENT_TYPE);
        call.requestContentEncoding = h.get(HttpHeaderNames.CONTENT_ENCODING);
        observer = route.observers().start(call);
        RelayCallObserver.Refusal refusal = observer.admit(call);
        if (refusal != null) {
            refuse(refusal.status(), refusal.code(), refusal.text(), null, refusal.retryAfterSeconds(), expectsContinue);
            return;
        }
        String key;
        try {
            key = route.key().key();
        } catch (RelayKeyException e) {
            refuse(503, "no_key", e.getMessage(), null, expectsContinue); // names the source and the fix, never a key
            return;
        }
        if (expectsContinue) {
            ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
        }
        req.setUri(((RelayPathPolicy.Allowed) outcome).upstreamTarget());
        req.setProtocolVersion(HttpVersion.HTTP_1_1);
        route.injector().apply(h, key);
        pending.add(req);
        Future<RelayBackendHandler> acquired = route.upstream().acquire(ctx.channel().eventLoop());
        if (acquired.isSuccess()) {
            // A pooled connection: no wait. No flush here either: the body parts of this read follow,
            // and channelReadComplete flushes head and body together (one TLS record, one write).
            use(acquired.getNow(), false);
            return;
        }
        connecting = true;
        updateReading();
        RelayCall opening = call;
        RelayRuntime openingRoute = route;
        acquired.addListener((Future<RelayBackendHandler> f) -> connected(f, opening, openingRoute));
    }

    private void requestContent(HttpContent c) {
        boolean last = c instanceof LastHttpContent;
        if (discarding || call == null) {
            c.release();
            if (last && discarding) {
                discarding = false;
                if (closeAfterResponse) {
                    ctx.close();
                }
            }
            return;
        }
        int n = c.content().readableBytes();
        call.bytesUp += n;
        if (n > 0) {
            observer.requestBody(call, c.content().asReadOnly());
        }
        if (last) {
            requestDone = true;
        }
        if (backend == null) {
            pending.add(c);
            return;
        }
        Channel up = backend.channel();
        writeUpstream(c);
        if (!up.isWritable()) {
            up.flush();
            updateReading();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (backend != null) {
            backend.channel().flush();
        }
    }

    private void connected(Future<RelayBackendHandler> f, RelayCall forCall, RelayRuntime forRoute) {
        if (forCall != call || !ctx.channel().isActive()) {
            if (f.isSuccess()) {
                forRoute.upstream().release(f.getNow()); // unused and clean: the next call can have it
            }
            return;
        }
        connecting = false;
        if (!f.isSuccess()) {
            Throwable cause = f.cause();
            UpstreamFailure failure = cause instanceof UpstreamFailure u ? u
                    : new UpstreamFailure("upstream_failed", "cannot reach upstream " + forRoute.upstream().target().host()
                    + ": " + RelayUpstream.rootMessage(cause));
            badGateway(failure);
            return;
        }
        use(f.getNow(), true);
    }

    /** Lends {@code h} to the call and writes what was read so far; {@code flush} unless a read's completion will. */
    private void use(RelayBackendHandler h, boolean flush) {
        backend = h;
        h.bind(this);
        call.reusedConnection = h.reused();
        call.upstreamProtocol = h.http2() ? "h2" : "http/1.1";
        long now = System.nanoTime();
        call.connectedNanos = now;
        call.sentUpstreamNanos = now;
        Channel up = h.channel();
        // A reused HTTP/1.1 connection may have been closed by the upstream just as it was taken
        // (its keep-alive timeout): keep a copy of what goes out, to send once more on a new one.
        replayable = h.reused() && !h.http2() && !call.retried;
        while (!pending.isEmpty()) {
            writeUpstream(pending.poll());
        }
        if (flush) {
            up.flush();
        }
        updateReading();
    }

    private void writeUpstream(Object msg) {
        if (replayable) {
            if (msg instanceof HttpContent c) {
                int n = c.content().readableBytes();
                if (replayBytes + n > MAX_REPLAY_BYTES) {
                    dropReplay(); // too big to keep: this call is not sent twice
                } else {
                    replay.add(c.retainedDuplicate());
                    replayBytes += n;
                }
            } else {
                replay.add(msg); // the request head: not reference-counted, and the encoder leaves it as it is
            }
        }
        Channel up = backend.channel();
        up.write(msg, up.voidPromise());
    }

    private void dropReplay() {
        replay.forEach(ReferenceCountUtil::release);
        replay.clear();
        replayBytes = 0;
        replayable = false;
    }

    /** The upstream's response head (or an interim 1xx) for the call in progress. */
    void responseHead(HttpResponse r, boolean interim) {
        HttpHeaders h = r.headers();
        if (h.contains(HttpHeaderNames.CONNECTION)) {
            for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
                for (String name : token.split(",")) {
                    String n = name.strip().toLowerCase(Locale.ROOT);
                    if (!n.isEmpty() && !n.equals("content-length") && !n.equals("transfer-encoding")) {
                        h.remove(n);
                    }
                }
            }
            h.remove(HttpHeaderNames.CONNECTION);
        }
        for (int i = 0; i < RESPONSE_DROPPED.size(); i++) {
            h.remove(RESPONSE_DROPPED.get(i));
        }
        if (backend != null && backend.http2()) {
            // The HTTP/2 conversion's own fields (x-http2-stream-id, ...) describe the upstream stream.
            // Only an h2 upstream has them; names() copies every name, so HTTP/1.1 answers skip this.
            h.names().stream().filter(n -> n.regionMatches(true, 0, "x-http2-", 0, 8)).toList().forEach(h::remove);
        }
        if (!interim) {
            int code = r.status().code();
            call.status = code;
            call.responseHeadNanos = System.nanoTime();
            if (backend != null && backend.http2() && code != 204 && code != 304
                    && !h.contains(HttpHeaderNames.CONTENT_LENGTH)) {
                HttpUtil.setTransferEncodingChunked(r, true); // h2 frames its own bodies; HTTP/1.1 needs chunks
            }
            if (code != 204 && code != 304 && !h.contains(HttpHeaderNames.CONTENT_LENGTH) && !HttpUtil.isTransferEncodingChunked(r)) {
                closeAfterResponse = true; // the body ends when the upstream closes: only a close can tell the client
            }
            if (closeAfterResponse) {
                h.set(HttpHeaderNames.CONNECTION, "close");
            }
            observer.responseHead(call, r);
        }
        ctx.write(r, ctx.voidPromise());
    }

    /** A piece of the response; {@code endsExchange} on the last piece of the final response. */
    void responseContent(HttpContent c, boolean endsExchange) {
        int n = c.content().readableBytes();
        if (n > 0) {
            call.bytesDown += n;
            if (call.firstBodyByteNanos == 0) {
                call.firstBodyByteNanos = System.nanoTime();
            }
            observer.responseBody(call, c.content().asReadOnly());
        }
        ctx.write(c, ctx.voidPromise());
        if (endsExchange) {
            endExchange();
            return;
        }
        if (!ctx.channel().isWritable()) {
            ctx.flush();
            if (!ctx.channel().isWritable() && backend != null) {
                backend.channel().config().setAutoRead(false); // channelWritabilityChanged resumes it
            }
        }
    }

    private void endExchange() {
        call.outcome = RelayCall.Outcome.COMPLETE;
        RelayBackendHandler h = backend;
        backend = null;
        h.channel().flush(); // the request's last part may still wait for the client read's flush
        h.unbind();
        if (requestDone && h.reusable()) {
            route.upstream().release(h);
        } else {
            h.channel().close(); // the upstream answered before the whole request went: the connection is mid-request
        }
        boolean bodyLeft = !requestDone;
        finish();
        if (closeAfterResponse) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        ctx.flush();
        discarding = bodyLeft;
        while (!held.isEmpty() && !(call != null && requestDone) && ctx.channel().isActive()) {
            handle(held.poll());
        }
        if (backend != null) {
            backend.channel().flush(); // a pipelined request started here, outside a client read
        }
        updateReading();
    }

    void flushClient() {
        ctx.flush();
    }

    void upstreamWritabilityChanged() {
        updateReading();
    }

    /** The upstream connection lent to this call closed before its response ended. */
    void upstreamClosed(RelayBackendHandler h) {
        if (h != backend) {
            return;
        }
        backend = null;
        h.unbind();
        if (call.status == 0 && replayable) {
            // Closed before answering on a reused connection: most likely the upstream's keep-alive
            // timeout met our request on the wire. Send it once more, on a new connection.
            call.retried = true;
            pending.addAll(replay);
            replay.clear();
            replayBytes = 0;
            replayable = false;
            connecting = true;
            updateReading();
            RelayCall retrying = call;
            RelayRuntime retryingRoute = route;
            route.upstream().open(ctx.channel().eventLoop())
                    .addListener((Future<RelayBackendHandler> f) -> connected(f, retrying, retryingRoute));
            return;
        }
        if (call.status == 0) {
            badGateway(new UpstreamFailure("upstream_closed", "upstream " + route.upstream().target().host()
                    + " closed the connection without answering"));
            return;
        }
        call.outcome = RelayCall.Outcome.UPSTREAM_CLOSED;
        finish();
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE); // mid-response: cut
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && backend != null) {
            backend.channel().config().setAutoRead(true);
        }
        ctx.fireChannelWritabilityChanged();
    }

    /** Reads the client unless the call waits for a connection, a pipelined request waits, or the upstream is full. */
    private void updateReading() {
        boolean read = !connecting && held.isEmpty() && (backend == null || backend.channel().isWritable());
        ctx.channel().config().setAutoRead(read);
    }

    private void badGateway(UpstreamFailure failure) {
        pending.forEach(ReferenceCountUtil::release);
        pending.clear();
        call.outcome = RelayCall.Outcome.UPSTREAM_FAILED;
        call.reason = failure.code();
        call.status = 502;
        closeAfterResponse = true;
        finish();
        sendError(502, failure.code(), failure.getMessage(), null, true);
    }

    /** Answers the call here; its body (if any) is read and dropped unless {@code closeNow}. */
    private void refuse(int status, String code, String text, String allow, boolean closeNow) {
        refuse(status, code, text, allow, 0, closeNow);
    }

    private void refuse(int status, String code, String text, String allow, long retryAfterSeconds, boolean closeNow) {
        call.outcome = RelayCall.Outcome.REFUSED;
        call.reason = code;
        call.status = status;
        finish();
        if (closeNow) {
            closeAfterResponse = true;
        } else {
            discarding = true;
        }
        sendError(status, code, text, allow, retryAfterSeconds, closeNow);
    }

    private void sendError(int status, String code, String text, String allow, boolean closeNow) {
        sendError(status, code, text, allow, 0, closeNow);
    }

    private void sendError(int status, String code, String text, String allow, long retryAfterSeconds, boolean closeNow) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                Unpooled.copiedBuffer("enclave relay: " + text + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        r.headers().set("X-Enclave-Reason", code);
        if (allow != null) {
            r.headers().set(HttpHeaderNames.ALLOW, allow);
        }
        if (retryAfterSeconds > 0) {
            r.headers().set(HttpHeaderNames.RETRY_AFTER, retryAfterSeconds);
        }
        if (closeAfterResponse) {
            r.headers().set(HttpHeaderNames.CONNECTION, "close");
        }
        if (closeNow) {
            ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.writeAndFlush(r, ctx.voidPromise());
        }
    }

    /** Writes the call's audit line and forgets the call. */
    private void finish() {
        dropReplay();
        RelayCall c = call;
        call = null;
        c.endNanos = System.nanoTime();
        AuditEvent e = AuditEvent.of("relay", "call")
                .put("client", c.client().getHostAddress())
                .put("method", c.method())
                .put("path", c.path())
                .put("query", c.hadQuery()) // whether there was one; its values can carry secrets and are never logged
                .put("upstream", route == null ? null : route.upstream().target().host())
                .put("status", c.status)
                .put("outcome", c.outcome.code())
                .put("reason", c.reason);
        if (c.connectedNanos != 0) {
            e.put("upstream_proto", c.upstreamProtocol)
                    .put("reused", c.reusedConnection)
                    .put("retried", c.retried ? Boolean.TRUE : null)
                    .put("connect_ms", ms(c.connectedNanos - c.startNanos()));
        }
        if (c.responseHeadNanos != 0) {
            e.put("upstream_ms", ms(c.responseHeadNanos - c.sentUpstreamNanos))
                    .put("ttfb_ms", ms(c.responseHeadNanos - c.startNanos()));
        }
        if (c.firstBodyByteNanos != 0) {
            e.put("first_body_ms", ms(c.firstBodyByteNanos - c.startNanos()));
        }
        e.put("duration_ms", ms(c.endNanos - c.startNanos()))
                .put("bytes_up", c.bytesUp)
                .put("bytes_down", c.bytesDown);
        RelayCallObserver o = observer;
        observer = RelayCallObserver.NONE;
        o.finished(c, e);
        headTimer.callEnded();
        try {
            router.audit().write(e);
        } catch (IllegalStateException unaudited) {
            // Fail closed: a relay that cannot audit its calls makes no more of them on this connection.
            ctx.close();
        }
    }

    private static double ms(long nanos) {
        return Math.round(nanos / 1000.0) / 1000.0;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        dropReplay();
        pending.forEach(ReferenceCountUtil::release);
        pending.clear();
        held.forEach(ReferenceCountUtil::release);
        held.clear();
        if (call != null) {
            call.outcome = RelayCall.Outcome.CLIENT_CLOSED;
            finish();
        }
        if (backend != null) {
            RelayBackendHandler h = backend;
            backend = null;
            h.unbind();
            h.channel().close(); // cancels the request upstream
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
