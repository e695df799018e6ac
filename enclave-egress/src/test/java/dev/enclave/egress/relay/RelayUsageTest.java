package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The relay's default {@link UsageObserver} end to end (real sockets, real TLS to the fake API):
 * the usage audit (model from the request, tokens from the answer, streamed or not), the budgets
 * (429 with the limit in words and {@code Retry-After}, nothing sent upstream, an audit line, one
 * alert), and where the key goes ({@code --auth-header}/{@code --auth-scheme}).
 */
class RelayUsageTest {
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    /** {@code model} is not the first member, and a nested {@code model} must not count. */
    private static final String STREAMED_CHAT_WITH_USAGE = "{\"stream\":true,\"metadata\":{\"model\":\"decoy\"},"
            + "\"stream_options\":{\"include_usage\":true},\"model\":\"gpt-4o\",\"messages\":[]}";
    private static final String STREAMED_CHAT = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}";
    private static final Instant NOON = Instant.parse("2026-11-25T12:00:00Z");

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    // ---- usage audit -----------------------------------------------------------------------------

    @Test
    void aCallsAuditLineCarriesTheRequestedModelAndTheAnswersTokenCounts() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start()) {
            HttpResponse<String> r = chat(relay, CHAT);
            assertThat(r.statusCode()).isEqualTo(200);
            JsonNode call = relay.awaitCall(n -> n.path("outcome").asText().equals("complete"));
            assertThat(call.path("model").asText()).isEqualTo("gpt-4o-mini");
            assertThat(call.path("prompt_tokens").asLong()).isEqualTo(FakeLlmApi.PROMPT_TOKENS);
            assertThat(call.path("completion_tokens").asLong()).isEqualTo(FakeLlmApi.COMPLETION_TOKENS);
        }
    }

    @Test
    void aStreamedAnswersTokensAreReadFromItsFinalUsageChunk() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start()) {
            HttpResponse<String> r = chat(relay, STREAMED_CHAT_WITH_USAGE);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("content-type")).hasValue("text/event-stream");
            assertThat(r.body()).contains("\"usage\"").endsWith("data: [DONE]\n\n");
            JsonNode call = relay.awaitCall(n -> n.path("outcome").asText().equals("complete"));
            assertThat(call.path("model").asText()).isEqualTo("gpt-4o");
            assertThat(call.path("prompt_tokens").asLong()).isEqualTo(FakeLlmApi.STREAM_PROMPT_TOKENS);
            assertThat(call.path("completion_tokens").asLong()).isEqualTo(FakeLlmApi.STREAM_COMPLETION_TOKENS);
        }
    }

    @Test
    void aStreamedAnswerWithoutUsageIsAuditedWithItsModelAndNoTokenFields() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start()) {
            assertThat(chat(relay, STREAMED_CHAT).statusCode()).isEqualTo(200);
            JsonNode call = relay.awaitCall(n -> n.path("outcome").asText().equals("complete"));
            assertThat(call.path("model").asText()).isEqualTo("gpt-4o");
            assertThat(call.has("prompt_tokens")).isFalse();
            assertThat(call.has("completion_tokens")).isFalse();
        }
    }

    @Test
    void aResponseThatIsNotJsonHasNoTokenFields() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).route("/v1/nothing", "GET").start()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(relay.uri("/v1/nothing")).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(404); // the fake's JSON error: no usage in it
            JsonNode call = relay.awaitCall(n -> n.path("path").asText().equals("/v1/nothing"));
            assertThat(call.has("model")).isFalse();
            assertThat(call.has("prompt_tokens")).isFalse();
        }
    }

    // ---- budgets ----------------------------------------------------------------------------------

    @Test
    void overTheRequestRateIs429WithRetryAfterNeverArrivesAndIsAuditedWithOneAlert() throws Exception {
        RelayBudgetTest.SettableClock clock = new RelayBudgetTest.SettableClock(NOON);
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).budget(0, 2, clock).start()) {
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(200);
            clock.advance(Duration.ofSeconds(20));
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(200);
            clock.advance(Duration.ofSeconds(10));
            HttpResponse<String> refused = chat(relay, CHAT);
            HttpResponse<String> again = chat(relay, CHAT);

            assertThat(refused.statusCode()).isEqualTo(429);
            assertThat(refused.body()).isEqualTo("enclave relay: over this relay's request rate: 2 of 2 requests in the"
                    + " last minute; retry after 2026-11-25T12:01:00Z (in 30 s)\n");
            assertThat(refused.headers().firstValue("retry-after")).hasValue("30");
            assertThat(refused.headers().firstValue("x-enclave-reason")).hasValue("over_budget");
            assertThat(again.statusCode()).isEqualTo(429);
            assertThat(llm.requests()).isEqualTo(2);

            JsonNode line = relay.awaitCall(n -> n.path("status").asInt() == 429);
            assertThat(line.path("status").asInt()).isEqualTo(429);
            assertThat(line.path("outcome").asText()).isEqualTo("refused");
            assertThat(line.path("reason").asText()).isEqualTo("over_budget");
            assertThat(line.path("limit").asText()).isEqualTo("requests_per_minute");
            assertThat(line.path("limit_max").asLong()).isEqualTo(2);
            assertThat(line.path("limit_used").asLong()).isEqualTo(2);
            assertThat(line.path("retry_after_s").asLong()).isEqualTo(30);
            List<JsonNode> alerts = relay.lines("budget_alert");
            assertThat(alerts).hasSize(1); // the second refusal in the same minute does not alert again
            assertThat(alerts.get(0).path("limit").asText()).isEqualTo("requests_per_minute");
            assertThat(alerts.get(0).path("upstream").asText()).isEqualTo("api.llm.test");

            clock.advance(Duration.ofSeconds(31)); // the first call has left the window
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(200);
            assertThat(llm.requests()).isEqualTo(3);
        }
    }

    @Test
    void reachingTheDailyTokenBudgetAlertsOnceAndRefusesTheNextCallUntilMidnight() throws Exception {
        RelayBudgetTest.SettableClock clock = new RelayBudgetTest.SettableClock(NOON);
        long budget = FakeLlmApi.PROMPT_TOKENS + FakeLlmApi.COMPLETION_TOKENS; // one call uses it all
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).budget(budget, 0, clock).start()) {
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(200);
            relay.awaitCall(n -> n.path("status").asInt() == 200); // its tokens are recorded as its line is written
            List<JsonNode> alerts = relay.lines("budget_alert");
            assertThat(alerts).hasSize(1);
            assertThat(alerts.get(0).path("limit").asText()).isEqualTo("tokens_per_day");
            assertThat(alerts.get(0).path("limit_max").asLong()).isEqualTo(budget);
            assertThat(alerts.get(0).path("resets_at").asText()).isEqualTo("2026-11-26T00:00:00Z");

            HttpResponse<String> refused = chat(relay, CHAT);
            assertThat(refused.statusCode()).isEqualTo(429);
            assertThat(refused.body()).contains("over this relay's token budget: 8 of 8 tokens used today (UTC)")
                    .contains("resets at 2026-11-26T00:00:00Z");
            assertThat(refused.headers().firstValue("retry-after")).hasValue(String.valueOf(12 * 3600));
            assertThat(llm.requests()).isEqualTo(1);
            JsonNode line = relay.awaitCall(n -> n.path("status").asInt() == 429);
            assertThat(line.path("limit").asText()).isEqualTo("tokens_per_day");
            assertThat(line.path("limit_used").asLong()).isEqualTo(budget);
            assertThat(relay.lines("budget_alert")).hasSize(1);

            clock.set(Instant.parse("2026-11-26T00:00:01Z"));
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(200);
            assertThat(llm.requests()).isEqualTo(2);
        }
    }

    @Test
    void streamedTokensCountAgainstTheDailyBudget() throws Exception {
        RelayBudgetTest.SettableClock clock = new RelayBudgetTest.SettableClock(NOON);
        long budget = FakeLlmApi.STREAM_PROMPT_TOKENS + FakeLlmApi.STREAM_COMPLETION_TOKENS;
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).budget(budget, 0, clock).start()) {
            assertThat(chat(relay, STREAMED_CHAT_WITH_USAGE).statusCode()).isEqualTo(200);
            relay.awaitCall(n -> n.path("status").asInt() == 200);
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(429);
            assertThat(llm.requests()).isEqualTo(1);
        }
    }

    // ---- where the key goes ----------------------------------------------------------------------

    @Test
    void aConfiguredHeaderAndSchemeCarryTheKeyAndTheClientsCopyIsReplaced() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).auth("X-Custom-Auth", "Token").start()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(relay.uri("/v1/chat/completions"))
                    .header("Content-Type", "application/json").header("X-Custom-Auth", "Token placeholder")
                    .header("Authorization", "Bearer placeholder")
                    .POST(HttpRequest.BodyPublishers.ofString(CHAT)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            FakeLlmApi.Seen seen = llm.seen().get(0);
            assertThat(seen.header("X-Custom-Auth")).containsExactly("Token " + RelayFixture.KEY);
            assertThat(seen.header("Authorization")).isEmpty();
        }
    }

    @Test
    void anEmptySchemeSendsTheKeyAlone() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).auth(null, "").start()) {
            assertThat(chat(relay, CHAT).statusCode()).isEqualTo(200);
            assertThat(llm.seen().get(0).header("Authorization")).containsExactly(RelayFixture.KEY);
        }
    }

    @Test
    void theOpenAiPresetsSchemeIsTheWordBearerAndTheHeaderValueHasOneSpace() {
        RelaySettings s = RelaySettings.of(new InetSocketAddress("127.0.0.1", 0), URI.create("https://api.llm.test"),
                RelayPreset.OPENAI);
        assertThat(s.authScheme()).isEqualTo("Bearer");
        assertThat(s.authValue("k")).isEqualTo("Bearer k");
        RelaySettings anthropic = RelaySettings.of(new InetSocketAddress("127.0.0.1", 0),
                URI.create("https://api.llm.test"), RelayPreset.ANTHROPIC);
        assertThat(anthropic.authValue("k")).isEqualTo("k");
    }

    @Test
    void aHeaderThatFramesTheRequestOrIsNoHeaderNameCannotCarryTheKey() {
        assertThatThrownBy(() -> withAuth("Host", null)).hasMessageContaining("cannot carry the key");
        assertThatThrownBy(() -> withAuth("Content-Length", null)).hasMessageContaining("cannot carry the key");
        assertThatThrownBy(() -> withAuth("X Key", null)).hasMessageContaining("is not a header name");
        assertThatThrownBy(() -> withAuth(null, "Bearer x")).hasMessageContaining("must be one word");
    }

    private static RelaySettings withAuth(String header, String scheme) {
        return new RelaySettings(new InetSocketAddress("127.0.0.1", 0), URI.create("https://api.llm.test"),
                RelayPreset.OPENAI, List.of(), List.of(), List.of(), null, null, RelaySettings.DEFAULT_CONNECT_TIMEOUT,
                RelaySettings.DEFAULT_IDLE_TIMEOUT, header, scheme);
    }

    private HttpResponse<String> chat(RelayFixture relay, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(relay.uri("/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer placeholder")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
