package dev.enclave.egress.relay;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a client connection on which nothing was read or written for the idle timeout. Each read
 * and write only stamps the time; one timer per connection looks at the stamp when it fires and
 * either closes or waits for the rest of the timeout. Netty's {@code IdleStateHandler} does the same
 * job but adds a promise and a listener to every write (to note when it completes), which showed in
 * the relay's CPU per call (bench/RESULTS.md); a write counted when it is made rather than when it
 * reaches the socket changes nothing here, because the relay stops writing to a client that does
 * not read (its upstream stops being read past the write high-water mark).
 */
final class RelayIdleTimeout extends ChannelDuplexHandler {
    private final long timeoutNanos;
    private long lastActivity;
    private ScheduledFuture<?> timer;

    RelayIdleTimeout(long timeoutMillis) {
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        lastActivity = System.nanoTime();
        schedule(ctx, timeoutNanos);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        lastActivity = System.nanoTime();
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        lastActivity = System.nanoTime();
        ctx.write(msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    private void schedule(ChannelHandlerContext ctx, long delayNanos) {
        timer = ctx.executor().schedule(() -> check(ctx), delayNanos, TimeUnit.NANOSECONDS);
    }

    private void check(ChannelHandlerContext ctx) {
        timer = null;
        if (!ctx.channel().isOpen()) {
            return;
        }
        long left = lastActivity + timeoutNanos - System.nanoTime();
        if (left > 0) {
            schedule(ctx, left); // there was activity since: wait out the rest of the timeout from it
            return;
        }
        ctx.close();
    }

    private void cancel() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }
}
