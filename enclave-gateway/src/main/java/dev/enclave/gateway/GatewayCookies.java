package dev.enclave.gateway;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;

/**
 * The gateway's own cookies, and taking them out of requests before the app sees them. Both carry
 * the {@code __Host-} prefix, so a browser accepts them only from this origin over HTTPS with
 * {@code Path=/} and no {@code Domain}: no other host (a sibling subdomain included) can set or
 * overwrite them. No {@code Max-Age}: the browser keeps them for its session, the server decides
 * how long a login lasts.
 */
public final class GatewayCookies {
    static final String SESSION = "__Host-enclave_session";
    static final String CSRF = "__Host-enclave_csrf";
    private static final String ATTRIBUTES = "; Path=/; Secure; HttpOnly; SameSite=Strict";

    private GatewayCookies() {
    }

    /**
     * Whether a {@code Set-Cookie} value (from the app) sets one of the gateway's cookies: names
     * compared ignoring case, as browsers apply the {@code __Host-} prefix rules.
     */
    public static boolean setsOurs(String setCookie) {
        int eq = setCookie.indexOf('=');
        String name = (eq < 0 ? setCookie : setCookie.substring(0, eq)).strip();
        return name.equalsIgnoreCase(SESSION) || name.equalsIgnoreCase(CSRF);
    }

    /** A {@code Set-Cookie} value that sets {@code name}. */
    static String set(String name, String value) {
        return name + "=" + value + ATTRIBUTES;
    }

    /** A {@code Set-Cookie} value that removes {@code name} from the browser. */
    static String clear(String name) {
        return name + "=" + ATTRIBUTES + "; Max-Age=0";
    }

    /**
     * Every value of cookie {@code name} in the request's {@code Cookie} headers, in order. Every
     * header is read: an h2 browser may send each cookie in a field of its own (RFC 9113 8.2.3);
     * Netty's h2 conversion joins those with {@code "; "}, and several HTTP/1 headers are read alike.
     */
    static List<String> values(HttpHeaders h, String name) {
        List<String> out = new ArrayList<>();
        for (String header : h.getAll(HttpHeaderNames.COOKIE)) {
            for (String pair : header.split(";")) {
                String p = pair.strip();
                int eq = p.indexOf('=');
                if (eq > 0 && p.substring(0, eq).equals(name)) {
                    out.add(p.substring(eq + 1));
                }
            }
        }
        return out;
    }

    /** Removes the gateway's cookies from the {@code Cookie} headers; the others stay as the browser wrote them. */
    static void removeOurs(HttpHeaders h) {
        List<String> headers = h.getAll(HttpHeaderNames.COOKIE);
        if (headers.isEmpty()) {
            return;
        }
        List<String> kept = new ArrayList<>();
        for (String header : headers) {
            List<String> pairs = new ArrayList<>();
            for (String pair : header.split(";")) {
                String p = pair.strip();
                int eq = p.indexOf('=');
                String name = eq < 0 ? p : p.substring(0, eq);
                if (!p.isEmpty() && !name.equals(SESSION) && !name.equals(CSRF)) {
                    pairs.add(p);
                }
            }
            if (!pairs.isEmpty()) {
                kept.add(String.join("; ", pairs));
            }
        }
        h.remove(HttpHeaderNames.COOKIE);
        kept.forEach(v -> h.add(HttpHeaderNames.COOKIE, v));
    }
}
