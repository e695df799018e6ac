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
 * request, and {@code sessionAbsolute} after its login. An HTTP connection is closed when its
 * client stays silent for {@code clientIdle} while it is the client's turn (see
 * {@code ClientIdleHandler}). An open WebSocket's browser session is checked again every
 * {@code sessionRecheck} and the socket closed when the session has ended. {@code nftCommand}, when
 * not null, is the nft command (e.g. {@code [/usr/sbin/nft]}) with which banned sources are also
 * dropped by the kernel (see {@code NftablesBans}).
 */
public record GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                              Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                              Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban,
                              PamCheck.Options pam, Duration sessionIdle, Duration sessionAbsolute,
                              Duration clientIdle, Duration sessionRecheck, List<String> nftCommand) {
    public static final Duration DEFAULT_SESSION_IDLE = Duration.ofHours(8);
    public static final Duration DEFAULT_SESSION_ABSOLUTE = Duration.ofHours(24);
    /** As nginx's {@code client_header_timeout}/{@code client_body_timeout} (60 s). */
    public static final Duration DEFAULT_CLIENT_IDLE = Duration.ofSeconds(60);
    /** How soon an open WebSocket notices that its browser session ended. */
    public static final Duration DEFAULT_SESSION_RECHECK = Duration.ofSeconds(10);

    public GatewaySettings {
        names = List.copyOf(names);
        nftCommand = nftCommand == null ? null : List.copyOf(nftCommand);
    }

    /** Without kernel bans. */
    public GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                           Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                           Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban,
                           PamCheck.Options pam, Duration sessionIdle, Duration sessionAbsolute,
                           Duration clientIdle, Duration sessionRecheck) {
        this(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes, upgradedIdle,
                maxFailures, failureWindow, ban, pam, sessionIdle, sessionAbsolute, clientIdle, sessionRecheck, null);
    }

    /** These settings with banned sources also dropped by the kernel through {@code command} (nft). */
    public GatewaySettings withNftables(List<String> command) {
        return new GatewaySettings(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes,
                upgradedIdle, maxFailures, failureWindow, ban, pam, sessionIdle, sessionAbsolute, clientIdle, sessionRecheck,
                command);
    }

    /** With the default client idle timeout (60 s). */
    public GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                           Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                           Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban,
                           PamCheck.Options pam, Duration sessionIdle, Duration sessionAbsolute) {
        this(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes, upgradedIdle,
                maxFailures, failureWindow, ban, pam, sessionIdle, sessionAbsolute, DEFAULT_CLIENT_IDLE,
                DEFAULT_SESSION_RECHECK);
    }

    /** These settings with another client idle timeout. */
    public GatewaySettings withClientIdle(Duration idle) {
        return new GatewaySettings(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes,
                upgradedIdle, maxFailures, failureWindow, ban, pam, sessionIdle, sessionAbsolute, idle, sessionRecheck,
                nftCommand);
    }

    /** These settings with another interval for re-checking the session of an open WebSocket. */
    public GatewaySettings withSessionRecheck(Duration every) {
        return new GatewaySettings(listen, redirectHttp, upstream, users, stateDir, tlsCert, tlsKey, names, maxHeadBytes,
                upgradedIdle, maxFailures, failureWindow, ban, pam, sessionIdle, sessionAbsolute, clientIdle, every,
                nftCommand);
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
