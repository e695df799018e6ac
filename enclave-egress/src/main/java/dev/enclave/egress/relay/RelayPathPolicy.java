package dev.enclave.egress.relay;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.StringJoiner;
import java.util.TreeSet;

/**
 * Decides whether a request target may go to the upstream. Pure: no I/O, no Netty. In this order,
 * stopping at the first refusal:
 * <ol>
 *   <li>the target is a path ({@code /...}, origin-form), without a fragment;</li>
 *   <li>the path is already canonical: only letters, digits and {@code - . _ ~ : @}, no empty
 *       segment, no {@code .}/{@code ..} segment, no percent-encoding, no backslash. Nothing is
 *       decoded or normalised here, so the relay and the upstream cannot read the same bytes as two
 *       different paths ({@code /v1/chat/completions/../../admin}, {@code %2e%2e}, {@code %2F},
 *       {@code ;} parameters and {@code \} are all refused, not cleaned);</li>
 *   <li>the path is at or below an allowed prefix, at a segment boundary;</li>
 *   <li>the method is one that prefix allows;</li>
 *   <li>credential parameters ({@code key}, {@code api-key}, ...) are removed from the query; the
 *       rest of the query goes on byte for byte.</li>
 * </ol>
 */
public final class RelayPathPolicy {
    /** Query parameters that carry a credential (compared after percent-decoding, case-insensitively). */
    static final Set<String> CREDENTIAL_PARAMETERS = Set.of("key", "api-key", "api_key", "apikey", "access_token", "token");

    private final List<RelayRoute> routes;

    public RelayPathPolicy(List<RelayRoute> routes) {
        if (routes.isEmpty()) {
            throw new IllegalArgumentException("the relay needs at least one allowed path prefix");
        }
        this.routes = List.copyOf(routes);
    }

    public List<RelayRoute> routes() {
        return routes;
    }

    /** The outcome for one request line. */
    public sealed interface Outcome permits Allowed, Refused {
    }

    /**
     * @param upstreamTarget what to send upstream: the path and the query without credential parameters
     * @param path           the path alone, for the audit line (query values never go there)
     * @param hadQuery       whether the client sent a query string
     */
    public record Allowed(String upstreamTarget, String path, boolean hadQuery) implements Outcome {
    }

    /**
     * @param status HTTP status for the client: 400 (not a path), 403 (not allowed), 405 (method)
     * @param code   stable reason code for the audit line and {@code X-Enclave-Reason}
     * @param text   one line for the client saying what was refused and why
     * @param allow  the {@code Allow} header value of a 405, else null
     */
    public record Refused(int status, String code, String text, String allow) implements Outcome {
    }

    public Outcome check(String method, String target) {
        if (target.isEmpty() || target.charAt(0) != '/') {
            return new Refused(400, "not_a_path",
                    "request target must be a path such as /v1/chat/completions (this relay is not a forward proxy)", null);
        }
        if (target.indexOf('#') >= 0) {
            return new Refused(400, "fragment", "request target has a fragment (#)", null);
        }
        int q = target.indexOf('?');
        String path = q < 0 ? target : target.substring(0, q);
        String query = q < 0 ? null : target.substring(q + 1);
        String problem = pathProblem(path);
        if (problem != null) {
            return new Refused(403, "path_not_canonical", "path refused: " + problem, null);
        }
        RelayRoute route = null;
        for (RelayRoute r : routes) {
            if (r.covers(path)) {
                route = r;
                break;
            }
        }
        if (route == null) {
            StringJoiner allowed = new StringJoiner(", ");
            routes.forEach(r -> allowed.add(r.prefix()));
            return new Refused(403, "path_not_allowed", "path is not on the relay's allowlist (allowed: " + allowed + ")", null);
        }
        if (!route.methods().contains(method)) {
            String allow = String.join(", ", new TreeSet<>(route.methods()));
            return new Refused(405, "method_not_allowed",
                    method + " is not allowed on " + route.prefix() + " (allowed: " + allow + ")", allow);
        }
        String kept;
        try {
            kept = query == null ? null : withoutCredentials(query);
        } catch (IllegalArgumentException e) {
            return new Refused(400, "bad_query", "query string refused: " + e.getMessage(), null);
        }
        return new Allowed(kept == null || kept.isEmpty() ? path : path + "?" + kept, path, query != null);
    }

    /** Why {@code prefix} cannot be an allowed prefix, or null when it can. */
    static String prefixProblem(String prefix) {
        if (prefix == null || !prefix.startsWith("/")) {
            return "must start with / (e.g. /v1/chat/completions)";
        }
        String problem = pathProblem(prefix);
        return problem == null ? null : problem + " (write it in canonical form, e.g. /v1/chat/completions)";
    }

    /** Why {@code path} is not in the one canonical form the relay forwards, or null when it is. */
    static String pathProblem(String path) {
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c == '%') {
                return "percent-encoded characters are not forwarded (they can hide / and dot-segments)";
            }
            if (c == '\\') {
                return "backslash in path";
            }
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || c == '/' || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '@')) {
                return c < 0x20 || c >= 0x7f
                        ? String.format(Locale.ROOT, "character U+%04X in path", (int) c)
                        : "character '" + c + "' in path";
            }
        }
        // Segments between slashes, without split's arrays and strings (this runs on every call).
        int start = 1;
        while (start <= path.length()) {
            int end = path.indexOf('/', start);
            if (end < 0) {
                end = path.length();
            }
            if (end == start) {
                return "empty path segment (// or a trailing /)";
            }
            boolean dots = true;
            for (int i = start; i < end && dots; i++) {
                dots = path.charAt(i) == '.';
            }
            if (dots) {
                return "dot-segment (" + path.substring(start, end) + ") in path";
            }
            start = end + 1;
        }
        return null;
    }

    /** {@code query} without credential parameters; other parameters unchanged and in order. */
    static String withoutCredentials(String query) {
        StringJoiner kept = new StringJoiner("&");
        for (String param : query.split("&", -1)) {
            int eq = param.indexOf('=');
            String name = decode(eq < 0 ? param : param.substring(0, eq)).toLowerCase(Locale.ROOT).strip();
            if (!CREDENTIAL_PARAMETERS.contains(name) && !param.isEmpty()) {
                kept.add(param);
            }
        }
        return kept.toString();
    }

    private static String decode(String s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length() || Character.digit(s.charAt(i + 1), 16) < 0 || Character.digit(s.charAt(i + 2), 16) < 0) {
                    throw new IllegalArgumentException("bad percent-encoding in a parameter name");
                }
                out.write(Character.digit(s.charAt(i + 1), 16) * 16 + Character.digit(s.charAt(i + 2), 16));
                i += 2;
            } else if (c == '+') {
                out.write(' ');
            } else {
                out.write(c);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
