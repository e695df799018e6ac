package dev.enclave.gateway;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.session.SessionStore;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Ends a long-lived connection (a WebSocket) when what let it in ends: for a browser session,
 * logout, idle or absolute expiry, a password change, the user's removal; for Basic credentials,
 * a password change or the user's removal. Credentials are otherwise checked only when a request
 * arrives, and a WebSocket sends no more requests after its upgrade, so it would outlive them. The
 * check runs on the connection's own event loop every {@code every}; it compares in memory (the
 * session store; the users file as last read, re-read at most once a second), so it costs no
 * password work. A session check does not count as use: a WebSocket left open does not keep an
 * idle session alive (the requests a page makes do).
 */
final class SessionWatch {
    private static final AttributeKey<Boolean> WATCHED = AttributeKey.valueOf("enclave.sessionWatched");

    private SessionWatch() {
    }

    /** Watches {@code channel} for as long as it is open; a second call for the same channel does nothing. */
    static void start(Channel channel, SessionStore sessions, String token, String user, Duration every, AuditLog audit) {
        // stillValid, not find: the watch is no use of the session
        start(channel, () -> sessions.stillValid(token), user, every, audit, "session_ended",
                "the session ended (logout, expiry or password change); its open connection is closed");
    }

    /** Watches a connection let in by Basic credentials: it ends when {@code authenticator} no longer accepts them. */
    static void start(Channel channel, Authenticator authenticator, String user, String credential, Duration every, AuditLog audit) {
        start(channel, () -> authenticator.stillHolds(user, credential), user, every, audit, "credentials_changed",
                "the password it was opened with was changed or the user removed; its open connection is closed");
    }

    private static void start(Channel channel, BooleanSupplier stillValid, String user, Duration every, AuditLog audit,
                              String event, String reason) {
        if (channel.attr(WATCHED).setIfAbsent(Boolean.TRUE) != null) {
            return;
        }
        long millis = every.toMillis();
        ScheduledFuture<?> check = channel.eventLoop().scheduleAtFixedRate(() -> {
            if (channel.isActive() && !stillValid.getAsBoolean()) {
                InetSocketAddress source = (InetSocketAddress) channel.remoteAddress();
                audit.write(AuditEvent.of("gateway", event).put("user", user)
                        .put("source", source == null ? null : source.getAddress().getHostAddress())
                        .put("reason", reason));
                channel.close();
            }
        }, millis, millis, TimeUnit.MILLISECONDS);
        channel.closeFuture().addListener(f -> check.cancel(false));
    }
}
