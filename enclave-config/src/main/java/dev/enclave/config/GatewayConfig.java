package dev.enclave.config;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** The {@code gateway:} section (served by the ingress gateway; validated here already). */
public record GatewayConfig(InetSocketAddress listen, InetSocketAddress redirectHttp, Tls tls, Auth auth,
                            Lockout lockout, URI upstream, Session session, Limits limits) {

    public record Tls(String mode, List<String> names, Path cert, Path key) {
    }

    /**
     * Who may log in: a users file ({@code users}), or Linux accounts through the PAM service
     * {@code pam} (never both), optionally only members of {@code pamGroup}; accounts with uid 0
     * only with {@code pamAllowRoot}.
     */
    public record Auth(Path users, String pam, String pamGroup, boolean pamAllowRoot) {
    }

    /**
     * Failed logins: {@code maxFailures} within {@code window} ban the source for {@code ban};
     * {@code nftables}: banned sources are also dropped by the kernel (an nftables set).
     */
    public record Lockout(int maxFailures, Duration window, Duration ban, boolean nftables) {
        /** Without the kernel drop. */
        public Lockout(int maxFailures, Duration window, Duration ban) {
            this(maxFailures, window, ban, false);
        }
    }

    /** Browser sessions: end after {@code idle} without a request, and {@code absolute} after the login. */
    public record Session(Duration idle, Duration absolute) {
        public static final Session DEFAULTS = new Session(Duration.ofHours(8), Duration.ofHours(24));
    }

    /**
     * Per connection: the largest request head; how long a client may stay silent while it is its
     * turn to send (as nginx's 60 s client timeouts); how long a WebSocket may stay silent both
     * ways (1 h, where the seed's nginx cut every socket at 60 s).
     */
    public record Limits(int maxHeadBytes, Duration clientIdle, Duration websocketIdle) {
        public static final Limits DEFAULTS = new Limits(32 * 1024, Duration.ofSeconds(60), Duration.ofHours(1));
    }
}
