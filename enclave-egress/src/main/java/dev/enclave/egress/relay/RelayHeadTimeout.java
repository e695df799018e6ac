package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetSocketAddress;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a connection that does not send a whole request head in time (slowloris): 408, an audit
 * line ({@code connection_closed}, reason {@code head_timeout}), close. Sits before the HTTP codec,
 * where it sees bytes arrive; {@link RelayFrontendHandler} tells it when a head is complete, when
 * the request's body has ended and when a call starts and ends.
 *
 * <p>The clock runs from the connection's start until its first head, and from the first byte after
 * a request's end until the next head is complete, but never while a call is being answered: a
 * keep-alive connection that sends nothing between calls is left to the idle timeout, and a slow
 * streamed answer is never cut because the client pipelined its next request behind it.
 */
final class RelayHeadTimeout extends ChannelInboundHandlerAdapter {
    private final long timeoutMillis;
    private final RelayRouter router;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> timer;
    /** Between a request head and the end of its body: the bytes that arrive are that body. */
    private boolean requestOpen;
    /** Between a call's start and its end (answered, refused or failed). */
    private boolean callOpen;
    /** Bytes of a next head arrived (after the last request ended) and no head is complete yet. */
    private boolean nextHeadBegun;

    RelayHeadTimeout(long timeoutMillis, RelayRouter router) {
        this.timeoutMillis = timeoutMillis;
        this.router = router;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        start(); // the first head is due from now
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        boolean headBytes = !requestOpen && msg instanceof ByteBuf b && b.isReadable();
        if (headBytes) {
            nextHeadBegun = true;
        }
        ctx.fireChannelRead(msg);
        // Started only when the read left a head unfinished: a head that arrives whole in one read
        // (nearly every one) costs no timer.
        if (headBytes && nextHeadBegun && !requestOpen && !callOpen) {
            start();
        }
    }

    void headArrived() {
        requestOpen = true;
        nextHeadBegun = false;
        cancel();
    }

    void requestEnded() {
        requestOpen = false;
    }

    void callStarted() {
        callOpen = true;
        cancel();
    }

    void callEnded() {
        callOpen = false;
        if (nextHeadBegun && !requestOpen) {
            start();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    private void start() {
        if (timer == null) {
            timer = ctx.executor().schedule(this::expired, timeoutMillis, TimeUnit.MILLISECONDS);
        }
    }

    private void cancel() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    private void expired() {
        timer = null;
        if (!ctx.channel().isActive()) {
            return;
        }
        InetSocketAddress client = (InetSocketAddress) ctx.channel().remoteAddress();
        try {
            router.audit().write(AuditEvent.of("relay", "connection_closed")
                    .put("client", client.getAddress().getHostAddress())
                    .put("listen", router.listen())
                    .put("reason", "head_timeout")
                    .put("detail", "no complete request head within " + timeoutMillis + " ms"));
        } catch (IllegalStateException unaudited) {
            // closed below either way
        }
        RawReply.sendAndClose(ctx, 408, "Request Timeout", "head_timeout", "no complete request head within "
                + timeoutMillis + " ms; send the whole head at once");
    }
}
