package dev.enclave.egress.relay;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Assembles the pipeline of every connection from the app, in one place: HTTP/1.1 codec, an idle
 * timer, then the relay. The upstream side's pipeline (TLS, HTTP client codec,
 * {@link RelayBackendHandler}) is assembled by {@link RelayUpstream}.
 */
final class RelayInitializer extends ChannelInitializer<SocketChannel> {
    /** Request line and header limits: an LLM request head is a few hundred bytes. */
    private static final int MAX_INITIAL_LINE = 8 * 1024;
    private static final int MAX_HEADER_BYTES = 32 * 1024;
    private static final int MAX_CHUNK_BYTES = 64 * 1024;

    private final Supplier<RelayRuntime> runtime;
    private final long idleMillis;

    RelayInitializer(Supplier<RelayRuntime> runtime, long idleMillis) {
        this.runtime = runtime;
        this.idleMillis = idleMillis;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        RelayRuntime rt = runtime.get();
        if (!rt.audit().healthy()) {
            ch.close(); // fail closed: a relay that cannot audit its calls makes none
            return;
        }
        ch.pipeline()
                .addLast("codec", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_BYTES, MAX_CHUNK_BYTES))
                .addLast("idle", new IdleStateHandler(0, 0, idleMillis, TimeUnit.MILLISECONDS) {
                    @Override
                    protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) {
                        ctx.close();
                    }
                })
                .addLast("relay", new RelayFrontendHandler(rt));
    }
}
