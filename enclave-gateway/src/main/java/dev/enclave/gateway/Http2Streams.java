package dev.enclave.gateway;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2Settings;

/**
 * The gateway's h2 connection settings. Each stream becomes one child channel that is served like
 * one HTTP/1.1 request, so the limits here bound what one connection can make the gateway hold:
 * at most {@value #MAX_STREAMS} requests at once, each with at most {@value #STREAM_WINDOW} bytes
 * of request body received but not yet passed on (a stream's window is only reopened as its body
 * is handed to the upstream connection, which stops taking it while the app is not reading).
 * Extended CONNECT (RFC 8441, WebSocket over h2) is not offered, so browsers open WebSockets on a
 * separate HTTP/1.1 connection, where the pass-through relay handles them.
 */
final class Http2Streams {
    static final int MAX_STREAMS = 100;
    static final int STREAM_WINDOW = 256 * 1024;

    private Http2Streams() {
    }

    /**
     * The server codec. Netty validates every header block (lowercase names, no connection-specific
     * fields, {@code te} only as {@code trailers}, pseudo-headers) and resets a stream that breaks
     * them before it reaches a child channel; it counts DATA against a {@code content-length} (a
     * mismatch resets the stream mid-body, see {@link StreamErrors}) and caps RST_STREAM floods. A
     * header list over {@code maxHeadBytes} gets 431 like HTTP/1.1.
     */
    static Http2FrameCodec frameCodec(int maxHeadBytes) {
        Http2Settings settings = Http2Settings.defaultSettings()
                .maxConcurrentStreams(MAX_STREAMS)
                .maxHeaderListSize(maxHeadBytes)
                .initialWindowSize(STREAM_WINDOW);
        return Http2FrameCodecBuilder.forServer()
                .initialSettings(settings)
                .validateHeaders(true)
                .build();
    }

    /**
     * Placed right after the frame conversion in each stream: a stream that h2 found malformed (a
     * body that disagrees with its content-length, say) is reset with h2's own error code. Left to
     * the handlers behind, it would only be closed, which resets it as CANCEL.
     */
    @Sharable
    static final class StreamErrors extends ChannelInboundHandlerAdapter {
        static final StreamErrors INSTANCE = new StreamErrors();

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            Http2Error error = cause instanceof Http2FrameStreamException e ? e.error() : null;
            Http2Exception h2 = Http2CodecUtil.getEmbeddedHttp2Exception(cause);
            if (error == null && h2 != null) {
                error = h2.error();
            }
            if (error != null) {
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(error)).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            ctx.fireExceptionCaught(cause);
        }
    }
}
