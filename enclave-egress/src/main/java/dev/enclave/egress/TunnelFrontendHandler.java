package dev.enclave.egress;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.timeout.IdleStateEvent;

/**
 * Client side of an open tunnel: relays client bytes to the destination, opaque, never parsed.
 * Backpressure by water marks: after a burst of reads the writes are flushed and the client is
 * read again only while the destination's outbound buffer is under its high-water mark; when it
 * drains below the low mark, {@link TunnelBackendHandler#channelWritabilityChanged} resumes
 * reading. A slow destination stalls the client instead of filling memory.
 */
final class TunnelFrontendHandler extends ChannelInboundHandlerAdapter {
    private final Channel upstream;
    private final TunnelSession session;

    TunnelFrontendHandler(Channel upstream, TunnelSession session) {
        this.upstream = upstream;
        this.session = session;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        ctx.channel().read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            session.addUp(buf.readableBytes());
        }
        upstream.write(msg).addListener(f -> {
            if (!f.isSuccess()) {
                ctx.channel().close();
            }
        });
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        upstream.flush();
        if (upstream.isWritable()) {
            ctx.channel().read();
        }
    }

    /** The client drained what the destination sent: read the destination again. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            upstream.read();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            ctx.close();
            return;
        }
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
