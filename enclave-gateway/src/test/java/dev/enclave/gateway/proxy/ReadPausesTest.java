package dev.enclave.gateway.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import org.junit.jupiter.api.Test;

/**
 * A client connection is read again only when no handler has a reason left to pause it. The
 * upstream draining used to turn reading back on while the AuthHandler held pipelined requests,
 * and the client could then push every request it pipelined into the gateway's memory.
 */
class ReadPausesTest {

    @Test
    void readingResumesOnlyWhenTheLastReasonIsGone() {
        EmbeddedChannel client = new EmbeddedChannel();
        ReadPauses.pause(client, ReadPauses.Reason.AUTH_HOLDING);
        ReadPauses.pause(client, ReadPauses.Reason.UPSTREAM_FULL);
        ReadPauses.resume(client, ReadPauses.Reason.UPSTREAM_FULL);
        assertThat(client.config().isAutoRead()).isFalse();
        assertThat(ReadPauses.pausedFor(client, ReadPauses.Reason.AUTH_HOLDING)).isTrue();
        ReadPauses.resume(client, ReadPauses.Reason.AUTH_HOLDING);
        assertThat(client.config().isAutoRead()).isTrue();
        client.finishAndReleaseAll();
    }

    @Test
    void theUpstreamDrainingDoesNotResumeAClientWhoseRequestsAreHeld() {
        EmbeddedChannel client = new EmbeddedChannel();
        UpstreamPool pool = new UpstreamPool(new InetSocketAddress("127.0.0.1", 9), NioSocketChannel.class, null,
                Duration.ofHours(1), 1, Duration.ofSeconds(4));
        UpstreamHandler relay = new UpstreamHandler(pool, Duration.ofHours(1));
        EmbeddedChannel upstream = new EmbeddedChannel(relay);
        upstream.config().setWriteBufferWaterMark(new WriteBufferWaterMark(8, 16));
        relay.bind(null, client, new ArrayDeque<>());

        // As ProxyHandler does when the upload fills the upstream, then AuthHandler holding the next request.
        upstream.write(Unpooled.wrappedBuffer(new byte[64]));
        assertThat(upstream.isWritable()).isFalse();
        ReadPauses.pause(client, ReadPauses.Reason.UPSTREAM_FULL);
        ReadPauses.pause(client, ReadPauses.Reason.AUTH_HOLDING);

        upstream.flush(); // the app read it all: the upstream is writable again
        upstream.runPendingTasks();
        assertThat(upstream.isWritable()).isTrue();
        assertThat(ReadPauses.pausedFor(client, ReadPauses.Reason.UPSTREAM_FULL)).isFalse();
        assertThat(client.config().isAutoRead()).as("still holding requests: not read").isFalse();

        ReadPauses.resume(client, ReadPauses.Reason.AUTH_HOLDING);
        assertThat(client.config().isAutoRead()).isTrue();
        upstream.finishAndReleaseAll();
        client.finishAndReleaseAll();
    }
}
