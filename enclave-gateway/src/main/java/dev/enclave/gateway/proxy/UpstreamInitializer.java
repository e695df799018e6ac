package dev.enclave.gateway.proxy;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.HttpClientCodec;
import java.time.Duration;

/** Pipeline of the gateway's connection to the app: HTTP client codec, then the relay back. */
final class UpstreamInitializer extends ChannelInitializer<Channel> {
    private final UpstreamPool pool;
    private final Duration upgradedIdle;

    UpstreamInitializer(UpstreamPool pool, Duration upgradedIdle) {
        this.pool = pool;
        this.upgradedIdle = upgradedIdle;
    }

    @Override
    protected void initChannel(Channel ch) {
        ch.pipeline()
                .addLast("codec", new HttpClientCodec(8192, 64 * 1024, 64 * 1024))
                .addLast("relay", new UpstreamHandler(pool, upgradedIdle));
    }
}
