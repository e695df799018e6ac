package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.enclave.egress.testing.FakeDns;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The relay end to end: real sockets, real TLS to a fake OpenAI-compatible API on loopback. Each
 * test starts its own fake and relay, so what a test configures is visible in it.
 */
class RelayServerTest {
    private static final String ATTACKER_KEY = "sk-attacker-own-key";
    private static final String CHAT = "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String STREAMED_CHAT = "{\"model\":\"gpt-test\",\"stream\":true,\"messages\":[]}";

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    // ---- the key -------------------------------------------------------------------------------

    @ParameterizedTest(name = "client sends {0}")
    @ValueSource(strings = {
            "Authorization: Bearer " + ATTACKER_KEY,
            "authorization: Bearer " + ATTACKER_KEY,
            "x-api-key: " + ATTACKER_KEY,
            "api-key: " + ATTACKER_KEY,
            "x-goog-api-key: " + ATTACKER_KEY,
            "Proxy-Authorization: Basic " + ATTACKER_KEY,
            "Cookie: session=" + ATTACKER_KEY,
    })
    void theRealKeyArrivesAndTheClientsCredentialDoesNot(String credential) throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT, credential));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).contains(FakeLlmApi.REPLY);
            FakeLlmApi.Seen seen = llm.seen().get(0);
            assertThat(seen.header("Authorization")).containsExactly("Bearer " + RelayFixture.KEY);
            assertThat(seen.headers().toString()).doesNotContain(ATTACKER_KEY);
            assertThat(seen.header("x-api-key")).isEmpty();
            assertThat(seen.header("api-key")).isEmpty();
            assertThat(seen.header("Cookie")).isEmpty();
            assertThat(seen.header("Host")).containsExactly("api.llm.test");
        }
    }

    @Test
    void aKeyInTheQueryIsRemovedAndTheOtherParametersArrive() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                    relay.uri("/v1/models?key=" + ATTACKER_KEY + "&limit=2&%6Bey=" + ATTACKER_KEY)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            FakeLlmApi.Seen seen = llm.seen().get(0);
            assertThat(seen.target()).isEqualTo("/v1/models?limit=2");
            assertThat(seen.header("Authorization")).containsExactly("Bearer " + RelayFixture.KEY);
        }
    }

    @Test
    void anthropicPresetSetsXApiKeyAndKeepsTheApiVersion() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).preset(RelayPreset.ANTHROPIC).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/messages", "{\"model\":\"claude-test\"}",
                    "x-api-key: " + ATTACKER_KEY, "Authorization: Bearer " + ATTACKER_KEY, "anthropic-version: 2023-06-01"));
            assertThat(c.readResponse().status()).isEqualTo(200);
            FakeLlmApi.Seen seen = llm.seen().get(0);
            assertThat(seen.header("x-api-key")).containsExactly(RelayFixture.KEY);
            assertThat(seen.header("Authorization")).isEmpty();
            assertThat(seen.header("anthropic-version")).containsExactly("2023-06-01");
        }
    }

    @Test
    void azurePresetSetsApiKeyAndKeepsTheApiVersionParameter() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).preset(RelayPreset.AZURE).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21&api-key=" + ATTACKER_KEY,
                    CHAT, "api-key: " + ATTACKER_KEY));
            assertThat(c.readResponse().status()).isEqualTo(200);
            FakeLlmApi.Seen seen = llm.seen().get(0);
            assertThat(seen.header("api-key")).containsExactly(RelayFixture.KEY);
            assertThat(seen.target()).isEqualTo("/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21");
        }
    }

    @Test
    void openAiJavaSdkWithAPlaceholderKeyGetsItsAnswerThroughTheRelay() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start()) {
            OpenAIClient client = OpenAIOkHttpClient.builder()
                    .apiKey("placeholder")
                    .baseUrl("http://127.0.0.1:" + relay.address.getPort() + "/v1")
                    .maxRetries(0)
                    .timeout(Duration.ofSeconds(10))
                    .build();
            try {
                ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
                        .model("gpt-test").addUserMessage("hello").build());
                assertThat(completion.choices().get(0).message().content()).contains(FakeLlmApi.REPLY);
            } finally {
                client.close();
            }
            assertThat(llm.seen().get(0).header("Authorization")).containsExactly("Bearer " + RelayFixture.KEY);
        }
    }

    @ParameterizedTest(name = "key {0}")
    @CsvSource(nullValues = "NULL", value = {"NULL", "''", "'sk-with\r\nX-Injected: 1'", "'sk with space'"})
    void aMissingOrUnusableKeyIs503AndNothingIsSent(String key) throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).key(() -> key).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.head()).contains("X-Enclave-Reason: no_key");
            assertThat(llm.requests()).isZero();
        }
    }

    @Test
    void anHttp10RequestIsRefusedBecauseItCannotReadAStream() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send("GET /v1/models HTTP/1.0\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(505);
            assertThat(llm.requests()).isZero();
        }
    }

    // ---- the path allowlist ------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            POST   | /v1/files                                  | 403 | path_not_allowed
            GET    | /admin                                     | 403 | path_not_allowed
            POST   | /v1/chat/completionsX                      | 403 | path_not_allowed
            POST   | /v1/chat/completions/../../admin           | 403 | path_not_canonical
            POST   | /v1/chat/completions/%2e%2e/%2e%2e/admin   | 403 | path_not_canonical
            POST   | /v1/chat/completions%2F..%2F..%2Fadmin     | 403 | path_not_canonical
            POST   | /v1/chat/completions\\..\\..\\admin        | 403 | path_not_canonical
            POST   | /v1/chat/completions;/../../admin          | 403 | path_not_canonical
            POST   | /v1//chat/completions                      | 403 | path_not_canonical
            POST   | http://api.llm.test/v1/chat/completions    | 400 | not_a_path
            GET    | /v1/chat/completions                       | 405 | method_not_allowed
            DELETE | /v1/models                                 | 405 | method_not_allowed
            """)
    void aRequestOutsideTheAllowlistIsRefusedAndNeverArrives(String method, String target, int status, String reason)
            throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(method + " " + target + " HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer x\r\n"
                    + "Content-Length: " + CHAT.length() + "\r\n\r\n" + CHAT);
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(status);
            assertThat(r.head()).contains("X-Enclave-Reason: " + reason);
            assertThat(r.body()).startsWith("enclave relay: ");
            // The connection is still usable, and the refused request never reached the upstream.
            c.send("GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            assertThat(llm.seen()).extracting(FakeLlmApi.Seen::target).containsExactly("/v1/models");
            assertThat(relay.awaitCall(n -> n.path("status").asInt() == status).path("reason").asText()).isEqualTo(reason);
        }
    }

    @Test
    void contentLengthWithChunkedIsRefusedAndTheConnectionClosed() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            // Content-Length and chunked together: the two readings of the body disagree about where
            // the next request starts, so the request is refused whole and the connection closed.
            String smuggled = "GET /admin HTTP/1.1\r\nHost: api.llm.test\r\n\r\n";
            c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Length: " + (5 + smuggled.length())
                    + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled);
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(400);
            assertThat(r.head()).contains("X-Enclave-Reason: bad_request");
            assertThat(c.drain(5000).closed()).isTrue();
            assertThat(llm.requests()).isZero();
        }
    }

    @Test
    void configuredPrefixesReplaceThePresetDefaults() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).route("/v1/models", "GET").start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            assertThat(c.readResponse().status()).isEqualTo(403);
            c.send("GET /v1/models/gpt-test HTTP/1.1\r\nHost: relay\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            assertThat(llm.seen()).extracting(FakeLlmApi.Seen::target).containsExactly("/v1/models/gpt-test");
        }
    }

    // ---- streaming ---------------------------------------------------------------------------------

    @Test
    void sseEventsReachTheClientBeforeTheStreamEnds() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            llm.holdStreams();
            c.send(post("/v1/chat/completions", STREAMED_CHAT));
            InputStream in = c.socket().getInputStream();
            String first = readUntil(in, "\"one\"");
            assertThat(first).startsWith("HTTP/1.1 200").contains("text/event-stream");
            // The fake is still holding the rest of the stream: the first event came through alone.
            assertThat(llm.streamOutcome()).isNotDone();
            llm.releaseStreams();
            String rest = readUntil(in, "[DONE]");
            assertThat(rest).contains("\"two\"", "\"three\"");
            assertThat(llm.streamOutcome().get(5, TimeUnit.SECONDS)).isEqualTo("complete");
            JsonNode call = relay.awaitCall(n -> n.path("outcome").asText().equals("complete"));
            assertThat(call.path("bytes_down").asLong()).isPositive();
            assertThat(call.has("first_body_ms")).isTrue();
        }
    }

    @Test
    void aClientThatDisconnectsMidStreamClosesTheUpstreamExchange() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start()) {
            llm.holdStreams(true);
            try (RawClient c = new RawClient(relay.address)) {
                c.send(post("/v1/chat/completions", STREAMED_CHAT));
                readUntil(c.socket().getInputStream(), "\"one\"");
            }
            llm.releaseStreams();
            assertThat(llm.streamOutcome().get(10, TimeUnit.SECONDS)).isEqualTo("aborted");
            assertThat(relay.awaitCall(n -> n.path("outcome").asText().equals("client_closed")).path("status").asInt())
                    .isEqualTo(200);
        }
    }

    @Test
    void aRequestBodyStreamsUpstreamInChunks() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            String half = CHAT.substring(0, 20);
            String rest = CHAT.substring(20);
            c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(half.length()) + "\r\n" + half + "\r\n");
            c.send(Integer.toHexString(rest.length()) + "\r\n" + rest + "\r\n0\r\n\r\n");
            // The fake answers with Content-Length: the raw reader takes the body by that.
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).contains(FakeLlmApi.REPLY);
            assertThat(relay.awaitCall(n -> n.path("status").asInt() == 200).path("bytes_up").asLong())
                    .isEqualTo(CHAT.length());
        }
    }

    @Test
    void aClientThatDoesNotReadHoldsBackTheUpstreamInsteadOfFillingTheRelaysMemory() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).route("/v1/big", "GET").start();
             Socket s = new Socket()) {
            s.setReceiveBufferSize(64 * 1024);
            s.connect(relay.address, 5000);
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /v1/big HTTP/1.1\r\nHost: relay\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            // Read nothing; wait until the fake's writes stop advancing (every buffer on the way is full).
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            long seen = -1;
            while (System.nanoTime() < deadline) {
                long now = llm.bigWritten();
                if (now == seen && now > 0) {
                    break;
                }
                seen = now;
                Thread.sleep(300);
            }
            // Without backpressure the relay would have read (and buffered) the whole answer by now.
            assertThat(llm.bigWritten()).isLessThan(FakeLlmApi.BIG_BYTES / 2);
            InputStream in = s.getInputStream();
            String head = readUntil(in, "\r\n\r\n");
            assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("content-length: " + FakeLlmApi.BIG_BYTES);
            long body = 0;
            byte[] buf = new byte[64 * 1024];
            int n;
            while (body < FakeLlmApi.BIG_BYTES && (n = in.read(buf)) > 0) {
                body += n;
            }
            assertThat(body).isEqualTo(FakeLlmApi.BIG_BYTES);
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT) + "GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n"
                    + post("/v1/files", CHAT));
            assertThat(c.readResponse().body()).contains(FakeLlmApi.REPLY);
            assertThat(c.readResponse().body()).contains("gpt-test");
            assertThat(c.readResponse().status()).isEqualTo(403);
            assertThat(llm.seen()).extracting(FakeLlmApi.Seen::target).containsExactly("/v1/chat/completions", "/v1/models");
        }
    }

    // ---- the upstream connection -------------------------------------------------------------------

    @Test
    void consecutiveCallsReuseOneUpstreamConnection() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            for (int i = 0; i < 3; i++) {
                c.send("GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n");
                assertThat(c.readResponse().status()).isEqualTo(200);
            }
            assertThat(llm.seen()).extracting(FakeLlmApi.Seen::clientPort).hasSize(3).containsOnly(llm.seen().get(0).clientPort());
            List<Boolean> reused = new ArrayList<>();
            relay.calls().forEach(n -> reused.add(n.path("reused").asBoolean()));
            assertThat(reused).containsExactly(false, true, true);
        }
    }

    @Test
    void aReusedConnectionThatTheUpstreamClosesWithoutAnsweringIsRetriedOnceOnANewOne() throws Exception {
        try (ClosingUpstream up = new ClosingUpstream(pki, 2);
             RelayFixture relay = RelayFixture.builder(tmp).pin("api.llm.test:443=127.0.0.1:" + up.port())
                     .allowCidr("127.0.0.1/32").trust(pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            assertThat(c.readResponse().status()).isEqualTo(200);
            c.send(post("/v1/chat/completions", CHAT + " "));
            assertThat(c.readResponse().status()).isEqualTo(200);
            assertThat(up.seen()).extracting(ClosingUpstream.Seen::connection).containsExactly(1, 1, 2);
            assertThat(up.seen().get(2).body()).isEqualTo(CHAT + " ");
            assertThat(up.seen().get(2).requestLine()).isEqualTo("POST /v1/chat/completions HTTP/1.1");
            JsonNode second = relay.awaitCall(n -> n.path("retried").asBoolean());
            assertThat(second.path("status").asInt()).isEqualTo(200);
        }
    }

    @Test
    void aNewConnectionThatTheUpstreamClosesWithoutAnsweringIs502AndNotRetried() throws Exception {
        try (ClosingUpstream up = new ClosingUpstream(pki, 1);
             RelayFixture relay = RelayFixture.builder(tmp).pin("api.llm.test:443=127.0.0.1:" + up.port())
                     .allowCidr("127.0.0.1/32").trust(pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: upstream_closed");
            assertThat(r.body()).contains("api.llm.test closed the connection without answering");
            assertThat(up.seen()).hasSize(1);
        }
    }

    @Test
    void anUpstreamCertificateForAnotherNameIs502AndNothingIsSent() throws Exception {
        TestPki wrongName = TestPki.forNames("other.test");
        try (FakeLlmApi llm = new FakeLlmApi(wrongName, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, wrongName).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: tls_failed");
            assertThat(r.body()).contains("api.llm.test").contains("never falls back");
            assertThat(llm.requests()).isZero();
        }
    }

    @Test
    void anUpstreamCertificateFromAnUntrustedCaIs502AndNothingIsSent() throws Exception {
        TestPki other = TestPki.forNames("api.llm.test");
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).trust(other).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: tls_failed");
            assertThat(llm.requests()).isZero();
        }
    }

    @Test
    void anUpstreamThatIsDownIs502NamingTheUpstream() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        try (RelayFixture relay = RelayFixture.builder(tmp).pin("api.llm.test:443=127.0.0.1:" + closedPort)
                .allowCidr("127.0.0.1/32").trust(pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: connect_failed");
            assertThat(r.body()).contains("cannot connect to upstream api.llm.test (127.0.0.1:" + closedPort + ")");
            assertThat(relay.awaitCall(n -> true).path("outcome").asText()).isEqualTo("upstream_failed");
        }
    }

    @Test
    void aNameThatDoesNotResolveIs502SayingWhy() throws Exception {
        try (FakeDns dns = new FakeDns();
             RelayFixture relay = RelayFixture.builder(tmp).resolver(dns.address()).trust(pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: dns_failed");
            assertThat(r.body()).contains("cannot resolve upstream api.llm.test: ").contains("NXDOMAIN");
        }
    }

    @Test
    void anUpstreamOnALoopbackAddressIsRefusedByTheEgressAddressPolicy() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).pin("api.llm.test:443=127.0.0.1:" + llm.port()).trust(pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: address_refused");
            assertThat(r.body()).contains("loopback_address").contains("--allow-cidr");
            assertThat(llm.requests()).isZero();
        }
    }

    @Test
    void aResolvedAddressOfTheMetadataServiceIsRefusedEvenWithAllowCidr() throws Exception {
        try (FakeDns dns = new FakeDns().answer("api.llm.test", "169.254.169.254");
             RelayFixture relay = RelayFixture.builder(tmp).resolver(dns.address()).allowCidr("169.254.0.0/16").trust(pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.body()).contains("metadata_address");
        }
    }

    // ---- audit -------------------------------------------------------------------------------------

    @Test
    void everyCallIsAuditedAndNoOutputCarriesTheKey() throws Exception {
        StringBuilder everythingTheClientSaw = new StringBuilder();
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT, "Authorization: Bearer " + ATTACKER_KEY));
            everythingTheClientSaw.append(c.readResponse());
            c.send("GET /v1/models?after=secret-cursor HTTP/1.1\r\nHost: relay\r\n\r\n");
            everythingTheClientSaw.append(c.readResponse());
            c.send(post("/v1/files", CHAT));
            everythingTheClientSaw.append(c.readResponse());

            List<JsonNode> calls = relay.calls();
            assertThat(calls).hasSize(3);
            JsonNode chat = calls.get(0);
            assertThat(chat.path("component").asText()).isEqualTo("relay");
            assertThat(chat.path("time").asText()).isNotEmpty();
            assertThat(chat.path("client").asText()).isEqualTo("127.0.0.1");
            assertThat(chat.path("method").asText()).isEqualTo("POST");
            assertThat(chat.path("path").asText()).isEqualTo("/v1/chat/completions");
            assertThat(chat.path("status").asInt()).isEqualTo(200);
            assertThat(chat.path("upstream").asText()).isEqualTo("api.llm.test");
            assertThat(chat.path("bytes_up").asLong()).isEqualTo(CHAT.length());
            assertThat(chat.path("bytes_down").asLong()).isPositive();
            for (String field : List.of("upstream_ms", "ttfb_ms", "duration_ms", "connect_ms")) {
                assertThat(chat.path(field).isNumber()).as(field).isTrue();
            }
            JsonNode models = calls.get(1);
            assertThat(models.path("path").asText()).isEqualTo("/v1/models");
            assertThat(models.path("query").asBoolean()).isTrue();
            JsonNode refused = calls.get(2);
            assertThat(refused.path("status").asInt()).isEqualTo(403);
            assertThat(refused.path("outcome").asText()).isEqualTo("refused");

            String audit = relay.auditText();
            assertThat(audit).doesNotContain(RelayFixture.KEY).doesNotContain("secret-cursor").doesNotContain(ATTACKER_KEY);
            assertThat(everythingTheClientSaw.toString()).doesNotContain(RelayFixture.KEY);
        }
    }

    @Test
    void errorBodiesNeverCarryTheKey() throws Exception {
        TestPki wrongName = TestPki.forNames("other.test");
        try (FakeLlmApi llm = new FakeLlmApi(wrongName, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, wrongName).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(post("/v1/chat/completions", CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.toString()).doesNotContain(RelayFixture.KEY);
            assertThat(relay.auditText()).doesNotContain(RelayFixture.KEY);
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------

    private static String post(String target, String body, String... headers) {
        StringBuilder b = new StringBuilder("POST ").append(target).append(" HTTP/1.1\r\nHost: relay\r\n")
                .append("Content-Type: application/json\r\n");
        for (String h : headers) {
            b.append(h).append("\r\n");
        }
        return b.append("Content-Length: ").append(body.getBytes(StandardCharsets.UTF_8).length).append("\r\n\r\n")
                .append(body).toString();
    }

    /** Reads until {@code marker} has arrived; fails on close or after the socket's read timeout. */
    private static String readUntil(InputStream in, String marker) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        while (!got.toString(StandardCharsets.UTF_8).contains(marker)) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed before \"" + marker + "\" arrived; got: " + got);
            }
            got.write(b);
        }
        return got.toString(StandardCharsets.UTF_8);
    }
}
