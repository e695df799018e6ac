package dev.enclave.gateway;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.session.SessionStore;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Ends a long-lived connection (a WebSocket) when the browser session that opened it ends: logout,
 * idle or absolute expiry, a password change, the user's removal. A session is otherwise checked
 * only when a request arrives, and a WebSocket sends no more requests after its upgrade, so it
 * would outlive a logout. The check runs on the connection's own event loop every
 * {@code every}; it is in memory (the session store), so it costs no disk or password work. The
 * check does not count as use: a WebSocket left open does not keep an idle session alive (the
 * requests a page makes do).
 */
final class SessionWatch {
    private static final AttributeKey<Boolean> WATCHED = AttributeKey.valueOf("enclave.sessionWatched");

    private SessionWatch() {
    }

    /** Watches {@code channel} for as long as it is open; a second call for the same channel does nothing. */
    static void start(Channel channel, SessionStore sessions, String token, String user, Duration every, AuditLog audit) {
        if (channel.attr(WATCHED).setIfAbsent(Boolean.TRUE) != null) {
            return;
        }
        long millis = every.toMillis();
        ScheduledFuture<?> check = channel.eventLoop().scheduleAtFixedRate(() -> {
            if (channel.isActive() && !sessions.stillValid(token)) { // not find: the watch is no use of the session
                InetSocketAddress source = (InetSocketAddress) channel.remoteAddress();
                audit.write(AuditEvent.of("gateway", "session_ended").put("user", user)
                        .put("source", source == null ? null : source.getAddress().getHostAddress())
                        .put("reason", "the session ended (logout, expiry or password change); its open connection is closed"));
                channel.close();
            }
        }, millis, millis, TimeUnit.MILLISECONDS);
        channel.closeFuture().addListener(f -> check.cancel(false));
    }
}
