package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The relay listener's resource bounds, over real sockets: a connection limit (the connection past
 * it gets 503, is closed and audited) and a request-head timeout (slowloris: a client that never
 * finishes its head gets 408, is closed and audited), and an idle timeout (a connection quiet for it
 * is closed; one with calls coming is not).
 */
class RelayLimitsTest {
    private static final String MODELS = "GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n";

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");

    @Test
    void aConnectionPastTheLimitGets503AndIsClosedAndAuditedAndOneClosingFreesItsPlace() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).limits(2, Duration.ofSeconds(10)).start()) {
            List<RawClient> open = new ArrayList<>();
            try {
                for (int i = 0; i < 2; i++) {
                    RawClient c = new RawClient(relay.address);
                    open.add(c);
                    c.send(MODELS); // a whole call on each: both connections are in, and stay (keep-alive)
                    assertThat(c.readResponse().status()).isEqualTo(200);
                }
                try (RawClient third = new RawClient(relay.address)) {
                    RawClient.Response r = third.readResponse();
                    assertThat(r.status()).isEqualTo(503);
                    assertThat(r.reason()).isEqualTo("too_many_connections");
                    assertThat(r.body()).contains("too many connections (limit 2)");
                    assertThat(third.drain(5000).closed()).isTrue();
                }
                assertThat(llm.requests()).isEqualTo(2);
                JsonNode refused = relay.lines("connection_closed").get(0);
                assertThat(refused.path("reason").asText()).isEqualTo("too_many_connections");
                assertThat(refused.path("limit").asInt()).isEqualTo(2);
                assertThat(refused.path("client").asText()).isEqualTo("127.0.0.1");

                open.remove(0).close();
                // The relay sees the close a moment later; until then a new connection may still be refused.
                long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
                int status;
                do {
                    try (RawClient again = new RawClient(relay.address)) {
                        again.send(MODELS);
                        status = again.readResponse().status();
                    }
                } while (status == 503 && System.nanoTime() < deadline);
                assertThat(status).isEqualTo(200);
            } finally {
                for (RawClient c : open) {
                    c.close();
                }
            }
        }
    }

    @Test
    void aClientThatSendsAnIncompleteHeadGets408AndIsClosedAndNothingReachesTheUpstream() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).limits(100, Duration.ofMillis(300)).start();
             RawClient c = new RawClient(relay.address)) {
            c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Type: appl"); // and nothing more
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(408);
            assertThat(r.reason()).isEqualTo("head_timeout");
            assertThat(r.body()).contains("no complete request head within 300 ms");
            assertThat(c.drain(5000).closed()).isTrue();
            assertThat(llm.requests()).isZero();
            JsonNode line = relay.lines("connection_closed").get(0);
            assertThat(line.path("reason").asText()).isEqualTo("head_timeout");
            assertThat(line.path("listen").asText()).isEqualTo("127.0.0.1:" + relay.address.getPort());
            assertThat(relay.calls()).isEmpty();
        }
    }

    @Test
    void aConnectionThatSendsNothingIsClosedAfterTheHeadTimeout() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).limits(100, Duration.ofMillis(300)).start();
             RawClient c = new RawClient(relay.address)) {
            assertThat(c.readResponse().status()).isEqualTo(408);
            assertThat(c.drain(5000).closed()).isTrue();
            assertThat(relay.lines("connection_closed")).extracting(n -> n.path("reason").asText()).containsExactly("head_timeout");
        }
    }

    @Test
    void aKeepAliveConnectionQuietBetweenCallsIsLeftOpenButAHalfSentNextHeadIsTimed() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).limits(100, Duration.ofMillis(200)).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(MODELS);
            assertThat(c.readResponse().status()).isEqualTo(200);
            Thread.sleep(600); // three head timeouts of silence between calls: the idle timeout's business, not this one's
            c.send(MODELS);
            assertThat(c.readResponse().status()).isEqualTo(200);
            c.send("GET /v1/models HTTP/1.1\r\nHo".getBytes(StandardCharsets.US_ASCII));
            assertThat(c.readResponse().status()).isEqualTo(408);
            assertThat(c.drain(5000).closed()).isTrue();
            assertThat(llm.requests()).isEqualTo(2);
        }
    }

    @Test
    void aHeadSentInPiecesWithinTheTimeoutIsServed() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).limits(100, Duration.ofSeconds(10)).start();
             RawClient c = new RawClient(relay.address)) {
            c.send("GET /v1/mod");
            c.send("els HTTP/1.1\r\nHost: re");
            c.send("lay\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
        }
    }

    @Test
    void aKeepAliveConnectionQuietForTheIdleTimeoutIsClosed() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).idleTimeout(Duration.ofMillis(300)).start();
             RawClient c = new RawClient(relay.address)) {
            c.send(MODELS);
            assertThat(c.readResponse().status()).isEqualTo(200);
            assertThat(c.drain(10_000).closed()).isTrue(); // nothing more from either side: closed by the relay
            assertThat(llm.requests()).isEqualTo(1);
        }
    }

    @Test
    void callsThatKeepComingKeepTheConnectionOpenPastTheIdleTimeout() throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).idleTimeout(Duration.ofMillis(1500)).start();
             RawClient c = new RawClient(relay.address)) {
            // Six calls 500 ms apart: twice the idle timeout in all, never quiet for as long as it.
            long started = System.nanoTime();
            for (int i = 0; i < 6; i++) {
                c.send(MODELS);
                assertThat(c.readResponse().status()).isEqualTo(200);
                Thread.sleep(500);
            }
            assertThat(System.nanoTime() - started).isGreaterThan(Duration.ofMillis(1500).toNanos());
            c.send(MODELS);
            assertThat(c.readResponse().status()).isEqualTo(200);
            assertThat(llm.requests()).isEqualTo(7);
        }
    }
}
