package dev.enclave.egress.relay;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Rewrites a request head for the upstream: every credential the client sent is removed and the
 * configured one set, so whatever key the app holds (a placeholder, or an attacker's) is never
 * what the upstream sees. Also removes hop-by-hop headers (and any the client names in
 * {@code Connection}), cookies, and headers that would tell the upstream about the private side.
 */
final class ApiKeyInjector {
    /** Every header an LLM API (or a proxy in front of one) reads a credential from. */
    static final List<String> CREDENTIAL_HEADERS = List.of("authorization", "proxy-authorization", "x-api-key",
            "api-key", "x-goog-api-key", "cookie");
    /** Hop-by-hop (RFC 9110 7.6.1) and proxy-only headers; the codec sets framing for the upstream connection itself. */
    static final List<String> HOP_BY_HOP = List.of("connection", "keep-alive", "proxy-connection", "te", "trailer",
            "upgrade", "expect");
    /** Addresses and names of the private side: the upstream has no use for them. */
    static final List<String> PRIVATE_SIDE = List.of("forwarded", "x-forwarded-for", "x-forwarded-host",
            "x-forwarded-proto", "x-forwarded-port", "x-real-ip", "via");
    /** Never removed because the client listed them in {@code Connection}: they frame the body. */
    private static final Set<String> FRAMING = Set.of("content-length", "transfer-encoding", "host", "content-type");

    /**
     * The three lists above as {@link AsciiString}s, which carry their hash: the headers' lookups
     * then hash no name per call (a {@code String} name is hashed again at each lookup).
     */
    private static final AsciiString[] REMOVED = Stream.of(HOP_BY_HOP, CREDENTIAL_HEADERS, PRIVATE_SIDE)
            .flatMap(List::stream).map(AsciiString::cached).toArray(AsciiString[]::new);
    private static final AsciiString IDENTITY = AsciiString.cached("identity");

    /** The last key and the header value made from it: a key changes rarely (rotation), calls often. */
    private record AuthValue(String key, String value) {
    }

    private final RelaySettings settings;
    private final AsciiString hostHeader;
    private final AsciiString authHeader;
    private volatile AuthValue auth = new AuthValue(null, null);

    ApiKeyInjector(RelaySettings settings) {
        this.settings = settings;
        this.hostHeader = new AsciiString(settings.upstreamHostHeader());
        this.authHeader = AsciiString.cached(settings.authHeader());
    }

    void apply(HttpHeaders h, String key) {
        if (h.contains(HttpHeaderNames.CONNECTION)) {
            for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
                for (String name : token.split(",")) {
                    String n = name.strip().toLowerCase(Locale.ROOT);
                    if (!n.isEmpty() && !FRAMING.contains(n)) {
                        h.remove(n);
                    }
                }
            }
        }
        for (AsciiString name : REMOVED) {
            h.remove(name);
        }
        h.set(HttpHeaderNames.HOST, hostHeader);
        // The relay passes bodies through unread, but a usage reader fed from them (and the audit's
        // byte counts) need them uncompressed; LLM answers are small text and SSE is never compressed.
        h.set(HttpHeaderNames.ACCEPT_ENCODING, IDENTITY);
        AuthValue a = auth;
        if (!key.equals(a.key())) {
            a = new AuthValue(key, settings.authValue(key));
            auth = a;
        }
        h.set(authHeader, a.value());
    }
}
