package dev.enclave.egress;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A request head as received: method, raw request target (UTF-8 decoded), HTTP minor version and
 * header fields in order. Produced by {@link ProxyRequestDecoder}, which has already refused
 * anything that is not strict HTTP/1.x syntax.
 */
record ProxyRequest(String method, String target, int minorVersion, List<Map.Entry<String, String>> headers) {

    /** Every value of header {@code name} (case-insensitive), in order. */
    List<String> values(String name) {
        return headers.stream()
                .filter(h -> h.getKey().toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT)))
                .map(Map.Entry::getValue)
                .toList();
    }
}
