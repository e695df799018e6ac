package dev.enclave.gateway;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The fields of a posted login form ({@code application/x-www-form-urlencoded}): {@code user},
 * {@code password}, {@code csrf}, and {@code next} (optional). Read strictly: the body must be
 * ASCII, each known field may appear once, and user, password and csrf must be there; other
 * fields are ignored.
 */
record LoginForm(String user, char[] password, String csrf, String next) {
    private static final int MAX_FIELDS = 16;

    /** Parses {@code body}; an {@link IllegalArgumentException} says what is wrong in a few words. */
    static LoginForm parse(byte[] body) {
        for (byte b : body) {
            if (b < 0x20 || b > 0x7e) {
                throw new IllegalArgumentException("the form is not URL-encoded");
            }
        }
        String text = new String(body, StandardCharsets.US_ASCII);
        String[] pairs = text.isEmpty() ? new String[0] : text.split("&", -1);
        if (pairs.length > MAX_FIELDS) {
            throw new IllegalArgumentException("the form has too many fields");
        }
        Map<String, String> fields = new HashMap<>();
        for (String pair : pairs) {
            int eq = pair.indexOf('=');
            String name = decode(eq < 0 ? pair : pair.substring(0, eq));
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            if (!name.equals("user") && !name.equals("password") && !name.equals("csrf") && !name.equals("next")) {
                continue;
            }
            if (fields.putIfAbsent(name, value) != null) {
                throw new IllegalArgumentException("the form has \"" + name + "\" twice");
            }
        }
        for (String required : new String[] {"user", "password", "csrf"}) {
            if (!fields.containsKey(required)) {
                throw new IllegalArgumentException("the form has no \"" + required + "\"");
            }
        }
        return new LoginForm(fields.get("user"), fields.get("password").toCharArray(), fields.get("csrf"), fields.get("next"));
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8); // throws IllegalArgumentException on a bad %-escape
    }
}
