package dev.enclave.egress.relay;

/**
 * Token counts an API reported for one call; {@code -1} where it reported none.
 *
 * @param promptTokens     tokens read: OpenAI {@code prompt_tokens}; Responses API and Anthropic {@code input_tokens}
 *                         (for Anthropic plus {@code cache_creation_input_tokens} and {@code cache_read_input_tokens})
 * @param completionTokens tokens written: {@code completion_tokens} or {@code output_tokens}
 */
public record TokenUsage(long promptTokens, long completionTokens) {
    public static final TokenUsage UNKNOWN = new TokenUsage(-1, -1);

    /** True when the response reported at least one of the two counts. */
    public boolean isKnown() {
        return promptTokens >= 0 || completionTokens >= 0;
    }

    /** The known counts added up (0 when unknown), for budgets. */
    public long total() {
        return Math.max(promptTokens, 0) + Math.max(completionTokens, 0);
    }
}
