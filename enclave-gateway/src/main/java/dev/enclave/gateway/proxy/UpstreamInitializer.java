package dev.enclave.gateway.proxy;

import dev.enclave.audit.AuditLog;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.HttpClientCodec;
import java.time.Duration;
import java.util.Queue;

/** Pipeline of the gateway's connection to the app: HTTP client codec, then the relay back. */
final class UpstreamInitializer extends ChannelInitializer<Channel> {
    private final Channel client;
    private final Queue<Exchange> exchanges;
    private final AuditLog audit;
    private final Duration upgradedIdle;

    UpstreamInitializer(Channel client, Queue<Exchange> exchanges, AuditLog audit, Duration upgradedIdle) {
        this.client = client;
        this.exchanges = exchanges;
        this.audit = audit;
        this.upgradedIdle = upgradedIdle;
    }

    @Override
    protected void initChannel(Channel ch) {
        ch.pipeline()
                .addLast("codec", new HttpClientCodec(8192, 64 * 1024, 64 * 1024))
                .addLast("relay", new UpstreamHandler(client, exchanges, audit, upgradedIdle));
    }
}
