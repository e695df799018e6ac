package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import io.netty.handler.ssl.OpenSsl;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The upstream TLS client verifies the same way whichever engine runs it: BoringSSL (the default
 * where its native library loads) and the JDK's ({@code -Denclave.relay.tls=jdk}). A certificate
 * for another name and one from an untrusted CA are both a 502 with nothing sent, with each.
 */
class RelayUpstreamTlsProviderTest {
    private static final String CHAT = "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aVerifiedUpstreamAnswersThroughTheChosenEngine(String engine) throws Exception {
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = start(engine, RelayFixture.builder(tmp).upstream(llm, pki));
             RawClient c = new RawClient(relay.address)) {
            assertThat(relay.lines("start").get(0).path("upstream_tls").asText())
                    .isEqualTo(engine.equals("jdk") ? "jdk" : "boringssl");
            c.send(post(CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).contains(FakeLlmApi.REPLY);
            assertThat(llm.seen().get(0).header("Authorization")).containsExactly("Bearer " + RelayFixture.KEY);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void anUpstreamCertificateForAnotherNameIs502AndNothingIsSent(String engine) throws Exception {
        TestPki wrongName = TestPki.forNames("other.test");
        try (FakeLlmApi llm = new FakeLlmApi(wrongName, "127.0.0.1");
             RelayFixture relay = start(engine, RelayFixture.builder(tmp).upstream(llm, wrongName));
             RawClient c = new RawClient(relay.address)) {
            c.send(post(CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: tls_failed");
            assertThat(llm.requests()).isZero();
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void anUpstreamCertificateFromAnUntrustedCaIs502AndNothingIsSent(String engine) throws Exception {
        TestPki other = TestPki.forNames("api.llm.test");
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = start(engine, RelayFixture.builder(tmp).upstream(llm, pki).trust(other));
             RawClient c = new RawClient(relay.address)) {
            c.send(post(CHAT));
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.head()).contains("X-Enclave-Reason: tls_failed");
            assertThat(llm.requests()).isZero();
        }
    }

    /** Starts the relay with {@code engine} chosen the way an operator would, by the system property. */
    private static RelayFixture start(String engine, RelayFixture.Builder builder) throws Exception {
        if (engine.equals("openssl")) {
            // On linux-x86_64 (where the jar ships BoringSSL) the default must really be BoringSSL.
            assertThat(OpenSsl.isAvailable()).as("BoringSSL loads: %s", OpenSsl.unavailabilityCause()).isTrue();
        }
        System.setProperty(RelayTls.PROVIDER_PROPERTY, engine);
        try {
            return builder.start();
        } finally {
            System.clearProperty(RelayTls.PROVIDER_PROPERTY);
        }
    }

    private static String post(String body) {
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }
}
