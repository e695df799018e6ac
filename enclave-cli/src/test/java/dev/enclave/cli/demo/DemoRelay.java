package dev.enclave.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.egress.relay.RelayBudget;
import dev.enclave.egress.relay.RelayPreset;
import dev.enclave.egress.relay.RelayServer;
import dev.enclave.egress.relay.RelaySettings;
import dev.enclave.egress.relay.UsageObserver;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A real LLM relay on 127.0.0.1:0 in front of a {@link FakeLlmApi}, wired as {@code enclave up}
 * wires it: upstream {@code https://api.llm.test} pinned to the fake, loopback let through, the
 * fake's CA trusted, the usage observer and a budget, an audit file.
 */
final class DemoRelay implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RelayServer server;
    private final AuditLog audit;
    private final Path auditFile;
    private final URI baseUrl;

    /** @param requestsPerMinute 0 for no limit */
    DemoRelay(FakeLlmApi llm, TestPki pki, Path dir, Supplier<String> key, int requestsPerMinute) throws Exception {
        auditFile = dir.resolve("relay-" + System.nanoTime() + ".log");
        audit = AuditLog.open(auditFile);
        RelaySettings settings = new RelaySettings(new InetSocketAddress("127.0.0.1", 0), URI.create("https://api.llm.test"),
                RelayPreset.OPENAI, List.of(), List.of(ResolvePin.parse("api.llm.test:443=127.0.0.1:" + llm.port())),
                List.of(Cidr.parse("127.0.0.1/32")), new InetSocketAddress("127.0.0.1", 9),
                pki.writeCaPem(dir.resolve("ca-" + System.nanoTime() + ".pem")), Duration.ofSeconds(5), RelaySettings.DEFAULT_IDLE_TIMEOUT);
        server = new RelayServer(settings, key, audit,
                new RelayBudget(0, requestsPerMinute, Clock.systemUTC(), UsageObserver.auditAlerts(audit, settings)));
        InetSocketAddress at = server.start();
        baseUrl = URI.create("http://127.0.0.1:" + at.getPort() + "/v1");
    }

    /** What the app gets as {@code OPENAI_BASE_URL}. */
    URI baseUrl() {
        return baseUrl;
    }

    /** The first {@code call} audit line, waiting up to 10 s for it (it is written when the call ends). */
    JsonNode awaitCall() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        do {
            audit.flush();
            for (String line : Files.readAllLines(auditFile)) {
                JsonNode n = JSON.readTree(line);
                if (n.path("event").asText().equals("call")) {
                    return n;
                }
            }
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("the relay audited no call: " + Files.readString(auditFile));
    }

    @Override
    public void close() {
        server.close();
        audit.close();
    }
}
