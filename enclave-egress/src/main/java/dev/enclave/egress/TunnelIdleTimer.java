package dev.enclave.egress;

import io.netty.channel.Channel;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a tunnel after {@code idleNanos} with no bytes read on either side. One timer per tunnel,
 * fed by {@link #touch()} from both relay handlers; cheaper than an idle handler on each channel,
 * which would also have to track every write. Runs on the tunnel's event loop only.
 */
final class TunnelIdleTimer {
    private final Channel client;
    private final Channel upstream;
    private final long idleNanos;
    private long lastRead = System.nanoTime();
    private ScheduledFuture<?> check;

    TunnelIdleTimer(Channel client, Channel upstream, long idleNanos) {
        this.client = client;
        this.upstream = upstream;
        this.idleNanos = idleNanos;
    }

    void start() {
        schedule(idleNanos);
        client.closeFuture().addListener(f -> {
            if (check != null) {
                check.cancel(false);
            }
        });
    }

    void touch() {
        lastRead = System.nanoTime();
    }

    private void schedule(long delayNanos) {
        check = client.eventLoop().schedule(this::run, delayNanos, TimeUnit.NANOSECONDS);
    }

    private void run() {
        long quiet = System.nanoTime() - lastRead;
        if (quiet >= idleNanos) {
            client.close();
            upstream.close();
        } else if (client.isActive()) {
            schedule(idleNanos - quiet);
        }
    }
}
