package dev.enclave.gateway;

import dev.enclave.gateway.auth.PamCheck;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What the gateway needs to run. {@code tlsCert}/{@code tlsKey} null means a self-signed
 * certificate in {@code stateDir} for {@code names} and the listen address. {@code pam} null
 * means users come from the {@code users} file; otherwise they are Linux accounts through PAM
 * and {@code users} is not read. A browser session ends after {@code sessionIdle} without a
 * request, and {@code sessionAbsolute} after its login.
 */
public record GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                              Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                              Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban,
                              PamCheck.Options pam, Duration sessionIdle, Duration sessionAbsolute) {
    public static final Duration DEFAULT_SESSION_IDLE = Duration.ofHours(8);
    public static final Duration DEFAULT_SESSION_ABSOLUTE = Duration.ofHours(24);

    public GatewaySettings {
        names = List.copyOf(names);
    }

    /** With the default session timeouts (8 h idle, 24 h absolute). */
    public GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                           Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                           Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban,
                           PamCheck.Options pam) {
        this(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes, upgradedIdle,
                maxFailures, failureWindow, ban, pam, DEFAULT_SESSION_IDLE, DEFAULT_SESSION_ABSOLUTE);
    }

    /** Users from the users file, default session timeouts. */
    public GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                           Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                           Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban) {
        this(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes, upgradedIdle,
                maxFailures, failureWindow, ban, null);
    }
}
