package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Assembles the pipeline of every connection from the app, in one place: the connection limit
 * here, then a request-head timer, the HTTP/1.1 codec, an idle timer, then the relay. The upstream
 * side's pipeline (TLS, HTTP client codec, {@link RelayBackendHandler}) is assembled by
 * {@link RelayUpstream}.
 */
final class RelayInitializer extends ChannelInitializer<SocketChannel> {
    /** Request line and header limits: an LLM request head is a few hundred bytes. */
    private static final int MAX_INITIAL_LINE = 8 * 1024;
    private static final int MAX_HEADER_BYTES = 32 * 1024;
    private static final int MAX_CHUNK_BYTES = 64 * 1024;

    private final Supplier<RelayRouter> router;
    private final long idleMillis;
    private final long headMillis;
    private final int maxConnections;
    private final AtomicInteger open = new AtomicInteger();

    RelayInitializer(Supplier<RelayRouter> router, RelaySettings listener) {
        this.router = router;
        this.idleMillis = listener.idleTimeout().toMillis();
        this.headMillis = listener.headTimeout().toMillis();
        this.maxConnections = listener.maxConnections();
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        RelayRouter r = router.get();
        if (!r.audit().healthy()) {
            ch.close(); // fail closed: a relay that cannot audit its calls makes none
            return;
        }
        if (open.incrementAndGet() > maxConnections) {
            open.decrementAndGet();
            try {
                r.audit().write(AuditEvent.of("relay", "connection_closed")
                        .put("client", ch.remoteAddress().getAddress().getHostAddress())
                        .put("listen", r.listen())
                        .put("reason", "too_many_connections")
                        .put("limit", maxConnections));
            } catch (IllegalStateException unaudited) {
                // closed below either way
            }
            RawReply.sendAndClose(ch, 503, "Service Unavailable", "too_many_connections", "too many connections"
                    + " (limit " + maxConnections + "); close idle ones, or raise the relay's max_connections");
            return;
        }
        ch.closeFuture().addListener(f -> open.decrementAndGet());
        RelayHeadTimeout head = new RelayHeadTimeout(headMillis, r);
        ch.pipeline()
                .addLast("head-timeout", head)
                .addLast("codec", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_BYTES, MAX_CHUNK_BYTES))
                .addLast("idle", new RelayIdleTimeout(idleMillis))
                .addLast("relay", new RelayFrontendHandler(r, head));
    }
}
