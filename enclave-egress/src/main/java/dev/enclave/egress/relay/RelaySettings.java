package dev.enclave.egress.relay;

import dev.enclave.config.LlmLimits;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What one relay serves. The key is not here: it is handed to {@link RelayServer} on its own so
 * that no settings object, {@code toString()} or audit line can carry it.
 *
 * @param listen         where the app connects (the private side), plain HTTP/1.1
 * @param upstream       the LLM API, {@code https://host[:port]} (no path: the client's path goes on)
 * @param preset         how the upstream takes its key
 * @param routes         allowed path prefixes and methods ({@link RelayPreset#defaultRoutes()} when none are given)
 * @param resolve        fixed answers for the upstream name (same meaning as {@code egress.resolve})
 * @param allowCidr      ranges the upstream may resolve to although their class is refused (same as {@code egress.allow_cidr})
 * @param resolver       DNS server to ask, or null for the system's
 * @param extraCa        PEM file with CA certificates trusted besides the JDK's (tests, private APIs), or null
 * @param connectTimeout for DNS, TCP connect and TLS handshake to the upstream, each
 * @param idleTimeout    a connection silent this long in both directions is closed (an answer may take minutes)
 * @param authHeader     the header the key goes in; null for the preset's
 * @param authScheme     the word before the key in that header ({@code Bearer}, without the space), "" for none;
 *                       null for the preset's
 * @param maxConnections connections open at once on the listener; a new one past it gets 503 and is closed
 * @param headTimeout    a connection gets this long, from its start or the first byte after its previous call,
 *                       to send a whole request head (slowloris); then 408 and closed
 */
public record RelaySettings(InetSocketAddress listen, URI upstream, RelayPreset preset, List<RelayRoute> routes,
                            List<ResolvePin> resolve, List<Cidr> allowCidr, InetSocketAddress resolver, Path extraCa,
                            Duration connectTimeout, Duration idleTimeout, String authHeader, String authScheme,
                            int maxConnections, Duration headTimeout) {
    /** Headers that frame or route the request: the key cannot go in them. */
    private static final java.util.Set<String> NOT_AUTH_HEADERS = java.util.Set.of("host", "content-length",
            "transfer-encoding", "connection", "content-type", "content-encoding", "te", "trailer", "upgrade",
            "keep-alive", "expect", "accept-encoding");

    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(15);
    public static final int DEFAULT_MAX_CONNECTIONS = LlmLimits.DEFAULTS.maxConnections();
    public static final Duration DEFAULT_HEAD_TIMEOUT = LlmLimits.DEFAULTS.headTimeout();

    public RelaySettings {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("max connections: " + maxConnections + " (expected: 1 or more)");
        }
        if (headTimeout.isZero() || headTimeout.isNegative()) {
            throw new IllegalArgumentException("head timeout: " + headTimeout + " (expected: more than 0)");
        }
        routes = List.copyOf(routes.isEmpty() ? preset.defaultRoutes() : routes);
        resolve = List.copyOf(resolve);
        allowCidr = List.copyOf(allowCidr);
        upstreamTarget(upstream); // validates
        authHeader = authHeader == null ? preset.authHeader() : checkAuthHeader(authHeader);
        authScheme = authScheme == null ? preset.authScheme() : checkAuthScheme(authScheme);
    }

    /** The default limits ({@link LlmLimits#DEFAULTS}). */
    public RelaySettings(InetSocketAddress listen, URI upstream, RelayPreset preset, List<RelayRoute> routes,
                         List<ResolvePin> resolve, List<Cidr> allowCidr, InetSocketAddress resolver, Path extraCa,
                         Duration connectTimeout, Duration idleTimeout, String authHeader, String authScheme) {
        this(listen, upstream, preset, routes, resolve, allowCidr, resolver, extraCa, connectTimeout, idleTimeout,
                authHeader, authScheme, DEFAULT_MAX_CONNECTIONS, DEFAULT_HEAD_TIMEOUT);
    }

    /** These settings with other listener limits. */
    public RelaySettings withLimits(int connections, Duration head) {
        return new RelaySettings(listen, upstream, preset, routes, resolve, allowCidr, resolver, extraCa, connectTimeout,
                idleTimeout, authHeader, authScheme, connections, head);
    }

    /** The preset's header and scheme. */
    public RelaySettings(InetSocketAddress listen, URI upstream, RelayPreset preset, List<RelayRoute> routes,
                         List<ResolvePin> resolve, List<Cidr> allowCidr, InetSocketAddress resolver, Path extraCa,
                         Duration connectTimeout, Duration idleTimeout) {
        this(listen, upstream, preset, routes, resolve, allowCidr, resolver, extraCa, connectTimeout, idleTimeout, null, null);
    }

    /** The value of {@link #authHeader()}: {@code Bearer KEY}, or the key alone when the scheme is "". */
    String authValue(String key) {
        return authScheme.isEmpty() ? key : authScheme + " " + key;
    }

    private static String checkAuthHeader(String name) {
        if (!isToken(name)) {
            throw new IllegalArgumentException("auth header \"" + name + "\" is not a header name (letters, digits, -);"
                    + " write e.g. Authorization or x-api-key");
        }
        if (NOT_AUTH_HEADERS.contains(name.toLowerCase(java.util.Locale.ROOT))) {
            throw new IllegalArgumentException("auth header \"" + name + "\" frames or routes the request and cannot carry"
                    + " the key; write the header the API reads its key from, e.g. Authorization");
        }
        return name;
    }

    private static String checkAuthScheme(String scheme) {
        String word = scheme.strip();
        if (!word.isEmpty() && !isToken(word)) {
            throw new IllegalArgumentException("auth scheme \"" + scheme + "\" must be one word such as Bearer, or empty"
                    + " for the key alone");
        }
        return word;
    }

    /** An HTTP token (RFC 9110 5.6.2). */
    private static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** Listen, upstream and preset; everything else default (the preset's paths, system DNS, JDK trust store). */
    public static RelaySettings of(InetSocketAddress listen, URI upstream, RelayPreset preset) {
        return new RelaySettings(listen, upstream, preset, List.of(), List.of(), List.of(), null, null,
                DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT);
    }

    /** Parses {@code --upstream}: {@code https://host[:port]} only; the error says what to write instead. */
    public static URI parseUpstream(String text) {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("upstream \"" + text + "\" is not a URL; write e.g. https://api.openai.com");
        }
        upstreamTarget(uri);
        return uri;
    }

    /** The upstream as a name and port, for the address policy and the TLS peer name. */
    public HostPort upstreamTarget() {
        return upstreamTarget(upstream);
    }

    /** The {@code Host} header the upstream expects. */
    public String upstreamHostHeader() {
        HostPort t = upstreamTarget();
        return t.port() == 443 ? t.host() : t.host() + ":" + t.port();
    }

    private static HostPort upstreamTarget(URI uri) {
        String text = uri.toString();
        if (!"https".equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException("upstream \"" + text + "\" must be https:// (the key never travels in clear text)");
        }
        if (uri.getRawUserInfo() != null || uri.getRawQuery() != null || uri.getRawFragment() != null
                || uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/")) {
            throw new IllegalArgumentException("upstream \"" + text + "\" must be https://host[:port] without a path, "
                    + "user or query; the client's path (e.g. /v1/chat/completions) is appended");
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("upstream \"" + text + "\" has no host name; write e.g. https://api.openai.com");
        }
        try {
            return HostPort.parse(uri.getHost() + ":" + (uri.getPort() < 0 ? 443 : uri.getPort()));
        } catch (HostSyntaxException e) {
            throw new IllegalArgumentException("upstream \"" + text + "\": " + e.getMessage()
                    + " (the upstream must be a name, so the address policy and the certificate check apply)");
        }
    }
}
