package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several {@code llm:} entries on one listen address: one listener routes each call by its path
 * prefix to that entry's own upstream, key, auth header and budget. Two fake APIs stand for two
 * providers; each records what it received, so a call that went to the wrong one, or carried the
 * other's key, shows.
 */
class RelaySharedListenerTest {
    private static final String KEY_A = "sk-openai-account-a-71c3e9";
    private static final String KEY_B = "sk-ant-account-b-4d2f80";
    private static final String CHAT = "{\"model\":\"gpt-test\",\"messages\":[]}";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api-a.llm.test", "api-b.llm.test");
    private FakeLlmApi apiA;
    private FakeLlmApi apiB;
    private AuditLog audit;
    private Path auditFile;
    private RelayServer relay;
    private InetSocketAddress address;

    @BeforeEach
    void start() throws Exception {
        apiA = new FakeLlmApi(pki, "127.0.0.1");
        apiB = new FakeLlmApi(pki, "127.0.0.1");
        auditFile = tmp.resolve("audit.log");
        audit = AuditLog.open(auditFile);
        Path ca = pki.writeCaPem(tmp.resolve("ca.pem"));
        // A: OpenAI-style (Authorization: Bearer) on /v1/chat/completions and /v1/models, no budget.
        RelaySettings a = settings("https://api-a.llm.test", apiA, RelayPreset.OPENAI, ca,
                RelayRoute.of("/v1/chat/completions", "POST"), RelayRoute.of("/v1/models", "GET"));
        // B: Anthropic-style (x-api-key) on /v1/messages, one call a minute.
        RelaySettings b = settings("https://api-b.llm.test", apiB, RelayPreset.ANTHROPIC, ca,
                RelayRoute.of("/v1/messages", "POST"));
        relay = new RelayServer(List.of(
                new RelayServer.Entry(a, RelayKeySource.of(() -> KEY_A), UsageObserver.factory(RelayBudget.unlimited())),
                new RelayServer.Entry(b, RelayKeySource.of(() -> KEY_B), UsageObserver.factory(
                        new RelayBudget(0, 1, Clock.systemUTC(), UsageObserver.auditAlerts(audit, b))))), audit);
        address = relay.start();
    }

    @AfterEach
    void stop() {
        relay.close();
        audit.close();
        apiA.close();
        apiB.close();
    }

    private static RelaySettings settings(String upstream, FakeLlmApi api, RelayPreset preset, Path ca, RelayRoute... routes) {
        String host = upstream.substring("https://".length());
        return new RelaySettings(new InetSocketAddress("127.0.0.1", 0), RelaySettings.parseUpstream(upstream), preset,
                List.of(routes), List.of(ResolvePin.parse(host + ":443=127.0.0.1:" + api.port())),
                List.of(Cidr.parse("127.0.0.1/32")), new InetSocketAddress("127.0.0.1", 9), ca, Duration.ofSeconds(3),
                RelaySettings.DEFAULT_IDLE_TIMEOUT);
    }

    @Test
    void eachCallReachesTheUpstreamWhosePrefixCoversItWithThatUpstreamsKeyAndNeverTheOthers() throws Exception {
        try (RawClient c = new RawClient(address)) {
            c.send(post("/v1/chat/completions", CHAT, "Authorization: Bearer placeholder", "x-api-key: placeholder"));
            assertThat(c.readResponse().status()).isEqualTo(200);
            c.send(post("/v1/messages", "{\"model\":\"claude-test\"}", "Authorization: Bearer placeholder",
                    "x-api-key: placeholder", "anthropic-version: 2023-06-01"));
            assertThat(c.readResponse().status()).isEqualTo(200);
            c.send("GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
        }
        assertThat(apiA.seen()).extracting(FakeLlmApi.Seen::target).containsExactly("/v1/chat/completions", "/v1/models");
        assertThat(apiB.seen()).extracting(FakeLlmApi.Seen::target).containsExactly("/v1/messages");
        for (FakeLlmApi.Seen seen : apiA.seen()) {
            assertThat(seen.header("Authorization")).containsExactly("Bearer " + KEY_A);
            assertThat(seen.header("x-api-key")).isEmpty();
            assertThat(seen.header("Host")).containsExactly("api-a.llm.test");
            assertThat(seen.headers().toString()).doesNotContain(KEY_B).doesNotContain("placeholder");
        }
        FakeLlmApi.Seen messages = apiB.seen().get(0);
        assertThat(messages.header("x-api-key")).containsExactly(KEY_B);
        assertThat(messages.header("Authorization")).isEmpty();
        assertThat(messages.header("anthropic-version")).containsExactly("2023-06-01");
        assertThat(messages.header("Host")).containsExactly("api-b.llm.test");
        assertThat(messages.headers().toString()).doesNotContain(KEY_A).doesNotContain("placeholder");

        List<JsonNode> calls = calls();
        assertThat(calls).extracting(n -> n.path("path").asText() + " -> " + n.path("upstream").asText())
                .containsExactly("/v1/chat/completions -> api-a.llm.test", "/v1/messages -> api-b.llm.test",
                        "/v1/models -> api-a.llm.test");
        assertThat(calls.get(0).path("model").asText()).isEqualTo("gpt-test");
        assertThat(calls.get(1).path("model").asText()).isEqualTo("claude-test");
        String everything = Files.readString(auditFile);
        assertThat(everything).doesNotContain(KEY_A).doesNotContain(KEY_B);
        assertThat(lines("start")).extracting(n -> n.path("upstream").asText() + " " + n.path("paths").asText())
                .containsExactly("https://api-a.llm.test /v1/chat/completions /v1/models", "https://api-b.llm.test /v1/messages");
    }

    @Test
    void aPathNoUpstreamServesIsRefusedAndReachesNeither() throws Exception {
        try (RawClient c = new RawClient(address)) {
            c.send(post("/v1/embeddings", "{}"));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(403);
            assertThat(r.reason()).isEqualTo("path_not_allowed");
            assertThat(r.body()).contains("allowed: /v1/chat/completions, /v1/models, /v1/messages");
            c.send("GET /v1/models/../messages HTTP/1.1\r\nHost: relay\r\n\r\n");
            RawClient.Response dotted = c.readResponse();
            assertThat(dotted.status()).isEqualTo(403);
            assertThat(dotted.reason()).isEqualTo("path_not_canonical");
            c.send("GET /v1/messages HTTP/1.1\r\nHost: relay\r\n\r\n"); // B's path, a method B does not allow
            RawClient.Response method = c.readResponse();
            assertThat(method.status()).isEqualTo(405);
        }
        assertThat(apiA.requests()).isZero();
        assertThat(apiB.requests()).isZero();
        List<JsonNode> calls = calls();
        assertThat(calls).extracting(n -> n.path("status").asInt()).containsExactly(403, 403, 405);
        assertThat(calls.get(0).has("upstream")).as("a path no upstream serves names none").isFalse();
        assertThat(calls.get(1).has("upstream")).isFalse();
        assertThat(calls.get(2).path("upstream").asText()).isEqualTo("api-b.llm.test");
    }

    @Test
    void eachUpstreamHasItsOwnBudget() throws Exception {
        try (RawClient c = new RawClient(address)) {
            c.send(post("/v1/messages", "{\"model\":\"claude-test\"}"));
            assertThat(c.readResponse().status()).isEqualTo(200);
            c.send(post("/v1/messages", "{\"model\":\"claude-test\"}"));
            RawClient.Response over = c.readResponse();
            assertThat(over.status()).isEqualTo(429);
            assertThat(over.body()).contains("1 of 1 requests in the last minute");
            for (int i = 0; i < 3; i++) { // A has no budget: B's limit does not touch it
                c.send(post("/v1/chat/completions", CHAT));
                assertThat(c.readResponse().status()).isEqualTo(200);
            }
        }
        assertThat(apiB.requests()).isEqualTo(1);
        assertThat(apiA.requests()).isEqualTo(3);
        assertThat(lines("budget_alert")).singleElement()
                .satisfies(n -> assertThat(n.path("upstream").asText()).isEqualTo("api-b.llm.test"));
    }

    @Test
    void upstreamsWithOverlappingPrefixesCannotShareAListener() throws Exception {
        Path ca = tmp.resolve("ca.pem");
        RelaySettings a = settings("https://api-a.llm.test", apiA, RelayPreset.OPENAI, ca, RelayRoute.of("/v1", "POST"));
        RelaySettings b = settings("https://api-b.llm.test", apiB, RelayPreset.ANTHROPIC, ca, RelayRoute.of("/v1/messages", "POST"));
        List<RelayServer.Entry> entries = new ArrayList<>();
        entries.add(new RelayServer.Entry(a, RelayKeySource.of(() -> KEY_A), RelayCallObserver.Factory.NONE));
        entries.add(new RelayServer.Entry(b, RelayKeySource.of(() -> KEY_B), RelayCallObserver.Factory.NONE));
        assertThatThrownBy(() -> new RelayServer(entries, audit))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("upstreams https://api-a.llm.test and https://api-b.llm.test share a listen address and both"
                        + " serve /v1 / /v1/messages; give them disjoint paths or their own listen addresses");
    }

    private List<JsonNode> calls() throws Exception {
        return lines("call");
    }

    private List<JsonNode> lines(String event) throws Exception {
        audit.flush();
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(auditFile)) {
            JsonNode n = JSON.readTree(line);
            if (n.path("event").asText().equals(event)) {
                out.add(n);
            }
        }
        return out;
    }

    private static String post(String target, String body, String... headers) {
        StringBuilder b = new StringBuilder("POST ").append(target).append(" HTTP/1.1\r\nHost: relay\r\n")
                .append("Content-Type: application/json\r\n");
        for (String h : headers) {
            b.append(h).append("\r\n");
        }
        return b.append("Content-Length: ").append(body.getBytes(StandardCharsets.UTF_8).length).append("\r\n\r\n")
                .append(body).toString();
    }
}
