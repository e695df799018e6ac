package dev.enclave.gateway;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the request guard adds for a request that arrived as an h2 stream. Netty has already
 * validated the header block and converted it to an HTTP/1 request: {@code :authority} became
 * {@code Host} (a conflicting {@code host} field resets the stream), and {@code x-http2-*} fields
 * were added that describe the gateway's connection, not the client's request.
 */
final class Http2Requests {
    private static final String CONVERSION_PREFIX = "x-http2-";

    private Http2Requests() {
    }

    /** Removes the conversion fields (and any a client sent itself); returns why {@code req} is refused, or null. */
    static String check(HttpRequest req) {
        HttpHeaders h = req.headers();
        List<String> conversion = new ArrayList<>();
        for (String name : h.names()) {
            if (name.toLowerCase(Locale.ROOT).startsWith(CONVERSION_PREFIX)) {
                conversion.add(name);
            }
        }
        conversion.forEach(h::remove);
        if (!h.contains(HttpHeaderNames.HOST)) {
            return "an h2 request needs :authority";
        }
        return null;
    }
}
