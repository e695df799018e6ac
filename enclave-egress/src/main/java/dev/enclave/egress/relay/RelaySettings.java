package dev.enclave.egress.relay;

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
 */
public record RelaySettings(InetSocketAddress listen, URI upstream, RelayPreset preset, List<RelayRoute> routes,
                            List<ResolvePin> resolve, List<Cidr> allowCidr, InetSocketAddress resolver, Path extraCa,
                            Duration connectTimeout, Duration idleTimeout) {

    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(15);

    public RelaySettings {
        routes = List.copyOf(routes.isEmpty() ? preset.defaultRoutes() : routes);
        resolve = List.copyOf(resolve);
        allowCidr = List.copyOf(allowCidr);
        upstreamTarget(upstream); // validates
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
