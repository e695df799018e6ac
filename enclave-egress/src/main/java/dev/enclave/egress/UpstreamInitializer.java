package dev.enclave.egress;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;

/** Pipeline of the proxy's connection to a destination: the relay back to the client. */
final class UpstreamInitializer extends ChannelInitializer<Channel> {
    private final Channel client;
    private final TunnelSession session;
    private final boolean halfClose;

    UpstreamInitializer(Channel client, TunnelSession session, boolean halfClose) {
        this.client = client;
        this.session = session;
        this.halfClose = halfClose;
    }

    @Override
    protected void initChannel(Channel ch) {
        ch.pipeline()
                .addLast("relay", new TunnelBackendHandler(client, session, halfClose));
    }
}
