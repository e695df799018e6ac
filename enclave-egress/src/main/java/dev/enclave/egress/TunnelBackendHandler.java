package dev.enclave.egress;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;

/**
 * Destination side of a tunnel: relays destination bytes to the client with the same water-mark
 * backpressure as {@link TunnelFrontendHandler}. Reading starts only when the tunnel is established
 * ({@link #start}), so nothing reaches the client before its 200 reply.
 */
final class TunnelBackendHandler extends ChannelInboundHandlerAdapter {
    private final Channel client;
    private final TunnelSession session;
    private TunnelIdleTimer idle;
    private final boolean halfClose;

    /**
     * @param halfClose true for CONNECT tunnels (a FIN from the destination is passed on and the
     *                  client may go on sending); false for plain-HTTP forwarding, where the request
     *                  went upstream with {@code Connection: close}, so the destination's end of
     *                  stream ends the exchange and the client connection is closed.
     */
    TunnelBackendHandler(Channel client, TunnelSession session, boolean halfClose) {
        this.client = client;
        this.session = session;
        this.halfClose = halfClose;
    }

    /** Set when the tunnel is established (the timer needs both channels). */
    void idleTimer(TunnelIdleTimer idle) {
        this.idle = idle;
    }

    static void start(Channel upstream) {
        upstream.config().setAutoRead(true);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            session.addDown(buf.readableBytes());
        }
        if (idle != null) {
            idle.touch();
        }
        // A failed write surfaces as exceptionCaught on the peer, whose handler closes both sides.
        client.write(msg, client.voidPromise());
        if (!client.isWritable()) {
            client.flush();
            if (!client.isWritable()) {
                // Still above the high-water mark after flushing: stop reading until the peer
                // drains (its channelWritabilityChanged turns reading back on). Both channels
                // share one event loop, so that event cannot come between this check and the pause.
                ctx.channel().config().setAutoRead(false);
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        client.flush();
    }

    /** This side drained below its low-water mark: let the other side's reads resume. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            client.config().setAutoRead(true);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            if (halfClose) {
                Tunnels.forwardInputShutdown(ctx.channel(), client);
            } else {
                Tunnels.closeOnFlush(client);
                ctx.close();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Tunnels.closeOnFlush(client);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Tunnels.closeOnFlush(ctx.channel());
    }
}
