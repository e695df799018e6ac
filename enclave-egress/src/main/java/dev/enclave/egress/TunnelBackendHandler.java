package dev.enclave.egress;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;

/**
 * Destination side of a tunnel: relays destination bytes to the client, read-after-write like
 * {@link TunnelFrontendHandler}. Reading starts only when the tunnel is established
 * ({@link #start}), so nothing reaches the client before its 200 reply.
 */
final class TunnelBackendHandler extends ChannelInboundHandlerAdapter {
    private final Channel client;
    private final TunnelSession session;

    TunnelBackendHandler(Channel client, TunnelSession session) {
        this.client = client;
        this.session = session;
    }

    static void start(Channel upstream) {
        upstream.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            session.addDown(buf.readableBytes());
        }
        client.writeAndFlush(msg).addListener(f -> {
            if (f.isSuccess()) {
                ctx.channel().read();
            } else {
                ctx.channel().close();
            }
        });
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            ctx.close();
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
