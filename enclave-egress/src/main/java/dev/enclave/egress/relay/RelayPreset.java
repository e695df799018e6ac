package dev.enclave.egress.relay;

import java.util.List;
import java.util.Locale;

/**
 * How an LLM API takes its key, and which of its paths an agent needs. The relay removes every
 * credential the client sent and sets only {@link #authHeader()}: {@code authScheme + " " + key}, or the key alone
 * when the scheme is empty.
 */
public enum RelayPreset {
    /** OpenAI and OpenAI-compatible APIs: {@code Authorization: Bearer KEY}. */
    OPENAI("Authorization", "Bearer", List.of(
            RelayRoute.of("/v1/chat/completions", "POST"),
            RelayRoute.of("/v1/responses", "GET", "POST", "DELETE"),
            RelayRoute.of("/v1/completions", "POST"),
            RelayRoute.of("/v1/embeddings", "POST"),
            RelayRoute.of("/v1/models", "GET"))),
    /** Anthropic: {@code x-api-key: KEY}; the client's {@code anthropic-version} is kept. */
    ANTHROPIC("x-api-key", "", List.of(
            RelayRoute.of("/v1/messages", "POST"),
            RelayRoute.of("/v1/models", "GET"))),
    /** Azure OpenAI: {@code api-key: KEY}; deployment paths and the v1 surface. */
    AZURE("api-key", "", List.of(
            RelayRoute.of("/openai/deployments", "POST"),
            RelayRoute.of("/openai/v1/chat/completions", "POST"),
            RelayRoute.of("/openai/v1/responses", "GET", "POST", "DELETE"),
            RelayRoute.of("/openai/v1/embeddings", "POST"),
            RelayRoute.of("/openai/v1/models", "GET")));

    private final String authHeader;
    private final String authScheme;
    private final List<RelayRoute> routes;

    RelayPreset(String authHeader, String authScheme, List<RelayRoute> routes) {
        this.authHeader = authHeader;
        this.authScheme = authScheme;
        this.routes = routes;
    }

    /** The header the upstream reads the key from. */
    public String authHeader() {
        return authHeader;
    }

    /** The word before the key in that header ({@code "Bearer"}, without the space), or "" for the key alone. */
    public String authScheme() {
        return authScheme;
    }

    /** The paths and methods allowed when no {@code --path} is given. */
    public List<RelayRoute> defaultRoutes() {
        return routes;
    }

    /** The name used in config and on the command line. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@code openai}, {@code anthropic} or {@code azure}; anything else names the choices. */
    public static RelayPreset parse(String text) {
        for (RelayPreset p : values()) {
            if (p.id().equals(text.toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown preset \"" + text + "\" (expected: openai, anthropic or azure)");
    }
}
