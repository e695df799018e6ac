package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The relay against an upstream that speaks only HTTP/2: ALPN picks h2 and calls become streams of one connection. */
class RelayHttp2Test {
    private static final String STREAMED_CHAT = "{\"model\":\"gpt-test\",\"stream\":true,\"messages\":[]}";

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");

    @Test
    void callsBecomeStreamsOfOneHttp2ConnectionWithTheRealKey() throws Exception {
        try (FakeH2LlmApi llm = new FakeH2LlmApi(pki);
             RelayFixture relay = h2Relay(llm).start();
             RawClient c = new RawClient(relay.address)) {
            for (int i = 0; i < 3; i++) {
                c.send("GET /v1/models?key=sk-attacker HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer sk-attacker\r\n"
                        + "x-api-key: sk-attacker\r\n\r\n");
                RawClient.Response r = readChunkedOrSized(c);
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.body()).contains("gpt-h2");
                assertThat(r.head().toLowerCase()).doesNotContain("x-http2-");
            }
            List<FakeH2LlmApi.Seen> seen = llm.seen();
            assertThat(seen).hasSize(3);
            assertThat(seen).extracting(FakeH2LlmApi.Seen::connection).containsOnly(seen.get(0).connection());
            FakeH2LlmApi.Seen first = seen.get(0);
            assertThat(first.path()).isEqualTo("/v1/models");
            assertThat(first.authority()).isEqualTo("api.llm.test");
            assertThat(first.header("authorization")).containsExactly("Bearer " + RelayFixture.KEY);
            assertThat(first.headers().toString()).doesNotContain("sk-attacker");
            List<JsonNode> calls = relay.calls();
            assertThat(calls).extracting(n -> n.path("upstream_proto").asText()).containsOnly("h2");
            assertThat(calls).extracting(n -> n.path("reused").asBoolean()).containsExactly(false, true, true);
        }
    }

    @Test
    void sseOverHttp2ReachesTheClientBeforeTheStreamEnds() throws Exception {
        try (FakeH2LlmApi llm = new FakeH2LlmApi(pki);
             RelayFixture relay = h2Relay(llm).start();
             RawClient c = new RawClient(relay.address)) {
            llm.holdStreams();
            c.send(post(STREAMED_CHAT));
            InputStream in = c.socket().getInputStream();
            String first = readUntil(in, "\"one\"");
            assertThat(first).startsWith("HTTP/1.1 200").containsIgnoringCase("transfer-encoding: chunked");
            assertThat(llm.streamOutcome()).isNotDone();
            llm.releaseStreams();
            assertThat(readUntil(in, "[DONE]")).contains("\"two\"", "\"three\"");
            assertThat(llm.streamOutcome().get(5, TimeUnit.SECONDS)).isEqualTo("complete");
        }
    }

    @Test
    void aClientThatDisconnectsMidStreamResetsTheHttp2Stream() throws Exception {
        try (FakeH2LlmApi llm = new FakeH2LlmApi(pki);
             RelayFixture relay = h2Relay(llm).start()) {
            llm.holdStreams();
            try (RawClient c = new RawClient(relay.address)) {
                c.send(post(STREAMED_CHAT));
                readUntil(c.socket().getInputStream(), "\"one\"");
            }
            assertThat(llm.streamOutcome().get(10, TimeUnit.SECONDS)).isEqualTo("reset");
            assertThat(relay.awaitCall(n -> n.path("outcome").asText().equals("client_closed")).path("upstream_proto").asText())
                    .isEqualTo("h2");
        }
    }

    private RelayFixture.Builder h2Relay(FakeH2LlmApi llm) throws IOException {
        return RelayFixture.builder(tmp).pin("api.llm.test:443=127.0.0.1:" + llm.port()).allowCidr("127.0.0.1/32").trust(pki);
    }

    private static String post(String body) {
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length() + "\r\n\r\n" + body;
    }

    /** A response head, then its body by Content-Length or by chunks. */
    private static RawClient.Response readChunkedOrSized(RawClient c) throws IOException {
        InputStream in = c.socket().getInputStream();
        String head = readUntil(in, "\r\n\r\n");
        int status = Integer.parseInt(head.substring(9, 12));
        String lower = head.toLowerCase();
        if (lower.contains("content-length:")) {
            int at = lower.indexOf("content-length:") + 15;
            int n = Integer.parseInt(head.substring(at, head.indexOf("\r\n", at)).trim());
            return new RawClient.Response(status, head, new String(in.readNBytes(n), StandardCharsets.UTF_8));
        }
        String body = readUntil(in, "0\r\n\r\n");
        return new RawClient.Response(status, head, body);
    }

    private static String readUntil(InputStream in, String marker) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        while (!got.toString(StandardCharsets.UTF_8).endsWith(marker) && !got.toString(StandardCharsets.UTF_8).contains(marker)) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed before \"" + marker + "\" arrived; got: " + got);
            }
            got.write(b);
        }
        return got.toString(StandardCharsets.UTF_8);
    }
}
