package dev.enclave.egress.relay;

import java.util.Set;

/**
 * One allowed path prefix and the methods it may be called with. {@code prefix} matches itself and
 * everything below it at a segment boundary: {@code /v1/models} admits {@code /v1/models} and
 * {@code /v1/models/gpt-4o}, never {@code /v1/modelsX}.
 */
public record RelayRoute(String prefix, Set<String> methods) {
    /** Methods for a prefix given on the command line: what the LLM APIs use to read and to create. */
    public static final Set<String> CUSTOM_METHODS = Set.of("GET", "POST");

    public RelayRoute {
        methods = Set.copyOf(methods);
        String problem = RelayPathPolicy.prefixProblem(prefix);
        if (problem != null) {
            throw new IllegalArgumentException("path prefix \"" + prefix + "\": " + problem);
        }
    }

    public static RelayRoute of(String prefix, String... methods) {
        return new RelayRoute(prefix, Set.of(methods));
    }

    /** Whether {@code path} (already checked for dot-segments and odd characters) is at or below this prefix. */
    boolean covers(String path) {
        return path.equals(prefix) || path.startsWith(prefix) && path.charAt(prefix.length()) == '/';
    }
}
