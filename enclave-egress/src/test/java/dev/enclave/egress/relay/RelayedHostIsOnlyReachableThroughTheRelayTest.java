package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.ConfigLoader;
import dev.enclave.config.EgressConfig;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.LlmConfig;
import dev.enclave.egress.EgressServer;
import dev.enclave.egress.testing.EchoServer;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #5's "the relay is the only way to its upstream", end to end from one {@code enclave.yaml}
 * with both {@code egress:} and {@code llm:}: the egress proxy built from it refuses a CONNECT to
 * the relayed host (403, and no TCP connection ever reaches the address the name is pinned to),
 * while the relay built from the same file answers. A CONNECT to a host that is on the allowlist,
 * pinned to the same address, does get through: the refusal is the allowlist's, not the address's.
 * (That a relayed host on {@code egress.allow} is refused by the config check is ConfigLoaderTest's.)
 */
class RelayedHostIsOnlyReachableThroughTheRelayTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");

    @Test
    void aConnectToTheRelayedHostIsDeniedAndNeverReachesItWhileTheRelayAnswers() throws Exception {
        try (EchoServer target = new EchoServer("127.0.0.1");
             FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1")) {
            Path ca = pki.writeCaPem(tmp.resolve("ca.pem"));
            String yaml = "egress:\n"
                    + "  listen: 127.0.0.1:0\n"
                    + "  allow: [ \"docs.example.test:443\" ]\n"
                    + "  allow_cidr: [ 127.0.0.1/32 ]\n"
                    + "  resolve: [ \"api.llm.test:443=127.0.0.1:" + target.port() + "\","
                    + " \"docs.example.test:443=127.0.0.1:" + target.port() + "\" ]\n"
                    + "llm:\n"
                    + "  - listen: 127.0.0.1:0\n"
                    + "    upstream: \"https://api.llm.test\"\n"
                    + "    key: { env: ENCLAVE_LLM_API_KEY }\n"
                    + "    allow_cidr: [ 127.0.0.1/32 ]\n"
                    + "    resolve: [ \"api.llm.test:443=127.0.0.1:" + llm.port() + "\" ]\n"
                    + "    ca: " + ca + "\n";
            EnclaveConfig config = ConfigLoader.parse(yaml, "enclave.yaml");
            Path auditFile = tmp.resolve("egress-audit.log");

            try (AuditLog audit = AuditLog.open(auditFile)) {
                EgressServer proxy = new EgressServer(config.egress(), audit);
                try {
                    InetSocketAddress at = proxy.start();
                    RawClient.Response denied = RawClient.connect(at, "api.llm.test:443");
                    assertThat(denied.status()).isEqualTo(403);
                    assertThat(denied.reason()).isEqualTo("host_not_allowed");
                    RawClient.Response deniedOtherPort = RawClient.connect(at, "api.llm.test:8443");
                    assertThat(deniedOtherPort.status()).isEqualTo(403);
                    assertThat(target.accepted()).as("no connection reached the relayed host's address").isZero();

                    RawClient.Response control = RawClient.connect(at, "docs.example.test:443");
                    assertThat(control.status()).as("an allowed name pinned to the same address").isEqualTo(200);
                } finally {
                    proxy.close();
                }
                audit.flush();
            }
            List<JsonNode> tunnels = Files.readAllLines(auditFile).stream().map(RelayedHostIsOnlyReachableThroughTheRelayTest::json)
                    .filter(n -> n.path("event").asText().equals("tunnel")).toList();
            assertThat(tunnels).filteredOn(n -> n.path("target").asText().startsWith("api.llm.test:")).hasSize(2)
                    .allSatisfy(n -> {
                        assertThat(n.path("decision").asText()).isEqualTo("deny");
                        assertThat(n.path("reason").asText()).isEqualTo("host_not_allowed");
                        assertThat(n.path("bytes_up").asLong()).isZero();
                    });

            LlmConfig entry = config.llm().get(0);
            RelaySettings settings = new RelaySettings(entry.listen(), entry.upstream(), RelayPreset.parse(entry.preset()),
                    List.of(), entry.resolve(), entry.allowCidr(), null, entry.ca(), RelaySettings.DEFAULT_CONNECT_TIMEOUT,
                    RelaySettings.DEFAULT_IDLE_TIMEOUT, entry.authHeader(), entry.authScheme());
            try (AuditLog relayAudit = AuditLog.open(tmp.resolve("relay-audit.log"));
                 RelayServer relay = new RelayServer(settings, () -> RelayFixture.KEY, relayAudit)) {
                InetSocketAddress at = relay.start();
                HttpResponse<String> r = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at.getPort() + "/v1/models")).GET().build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat(llm.seen().get(0).header("Authorization")).containsExactly("Bearer " + RelayFixture.KEY);
            }
        }
    }

    private static JsonNode json(String line) {
        try {
            return JSON.readTree(line);
        } catch (java.io.IOException e) {
            throw new AssertionError(line, e);
        }
    }
}
