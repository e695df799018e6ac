package dev.enclave.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The h2 counterpart of {@link ClientIdleHandler} for a whole connection: when the client has
 * sent no frame for the idle time and no stream is open, the connection is closed (with GOAWAY,
 * sent by the codec). A connection with an open stream is left alone, since that stream may be
 * waiting for the app.
 */
final class Http2IdleHandler extends IdleStateHandler {
    private final Http2FrameCodec codec;

    Http2IdleHandler(Duration idle, Http2FrameCodec codec) {
        super(idle.toMillis(), 0, 0, TimeUnit.MILLISECONDS);
        this.codec = codec;
    }

    @Override
    protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) {
        if (codec.connection().numActiveStreams() == 0) {
            ctx.close();
        }
    }
}
