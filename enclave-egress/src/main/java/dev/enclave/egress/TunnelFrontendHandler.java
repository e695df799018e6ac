package dev.enclave.egress;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;

/**
 * Client side of an open tunnel: relays client bytes to the destination, opaque, never parsed.
 * Backpressure by water marks: the client is read (auto-read, so a burst of reads per wake-up)
 * only while the destination's outbound buffer is under its high-water mark; above it reading
 * stops, and {@link TunnelBackendHandler#channelWritabilityChanged} resumes it once the buffer
 * drains below the low mark. A slow destination stalls the client instead of filling memory.
 */
final class TunnelFrontendHandler extends ChannelInboundHandlerAdapter {
    private final Channel upstream;
    private final TunnelSession session;
    private final TunnelIdleTimer idle;

    TunnelFrontendHandler(Channel upstream, TunnelSession session, TunnelIdleTimer idle) {
        this.upstream = upstream;
        this.session = session;
        this.idle = idle;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        ctx.channel().config().setAutoRead(true);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            session.addUp(buf.readableBytes());
        }
        if (idle != null) {
            idle.touch();
        }
        // A failed write surfaces as exceptionCaught on the peer, whose handler closes both sides.
        upstream.write(msg, upstream.voidPromise());
        if (!upstream.isWritable()) {
            upstream.flush();
            if (!upstream.isWritable()) {
                // Still above the high-water mark after flushing: stop reading until the peer
                // drains (its channelWritabilityChanged turns reading back on). Both channels
                // share one event loop, so that event cannot come between this check and the pause.
                ctx.channel().config().setAutoRead(false);
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        upstream.flush();
    }

    /** This side drained below its low-water mark: let the other side's reads resume. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            upstream.config().setAutoRead(true);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            Tunnels.forwardInputShutdown(ctx.channel(), upstream);
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Tunnels.closeOnFlush(upstream);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Tunnels.closeOnFlush(ctx.channel());
    }
}
