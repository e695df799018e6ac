package dev.enclave.egress;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;

/** Pipeline of the proxy's connection to a destination: idle timeout, then relay to the client. */
final class UpstreamInitializer extends ChannelInitializer<Channel> {
    private final Channel client;
    private final TunnelSession session;
    private final long idleSeconds;
    private final boolean halfClose;

    UpstreamInitializer(Channel client, TunnelSession session, long idleSeconds, boolean halfClose) {
        this.client = client;
        this.session = session;
        this.idleSeconds = idleSeconds;
        this.halfClose = halfClose;
    }

    @Override
    protected void initChannel(Channel ch) {
        ch.pipeline()
                .addLast("idle", new IdleStateHandler(0, 0, idleSeconds, TimeUnit.SECONDS))
                .addLast("relay", new TunnelBackendHandler(client, session, halfClose));
    }
}
