package dev.enclave.egress.relay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A real {@link RelayServer} on 127.0.0.1:0 in front of a {@link FakeLlmApi}, with an audit file.
 * By default the upstream is {@code https://api.llm.test}, pinned to the fake's loopback port and
 * let through the address policy by {@code allow_cidr 127.0.0.1/32}, trusting the fake's test CA:
 * exactly what {@code --resolve}, {@code --allow-cidr} and {@code --ca} do on the command line.
 */
final class RelayFixture implements AutoCloseable {
    /** The real key: a test greps every output for it. */
    static final String KEY = "sk-REAL-relay-key-4f1d9c0e7b2a";
    private static final ObjectMapper JSON = new ObjectMapper();

    final RelayServer server;
    final AuditLog audit;
    final Path auditFile;
    final InetSocketAddress address;

    private RelayFixture(RelaySettings settings, Function<AuditLog, RelayKeySource> key, Path dir, long tokensPerDay,
                         int requestsPerMinute, Clock clock) throws Exception {
        auditFile = dir.resolve("relay-audit-" + System.nanoTime() + ".log");
        audit = AuditLog.open(auditFile);
        RelayBudget budget = tokensPerDay == 0 && requestsPerMinute == 0 ? RelayBudget.unlimited()
                : new RelayBudget(tokensPerDay, requestsPerMinute, clock, UsageObserver.auditAlerts(audit, settings));
        server = new RelayServer(List.of(new RelayServer.Entry(settings, key.apply(audit), UsageObserver.factory(budget))), audit);
        address = server.start();
    }

    static Builder builder(Path dir) {
        return new Builder(dir);
    }

    /** {@code http://127.0.0.1:PORT} + path. */
    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + address.getPort() + path);
    }

    /** Every audit line so far, as written. */
    String auditText() throws IOException {
        audit.flush();
        return Files.readString(auditFile);
    }

    /** The {@code event: call} audit lines so far. */
    List<JsonNode> calls() throws IOException {
        return lines("call");
    }

    /** The audit lines of {@code event} so far. */
    List<JsonNode> lines(String event) throws IOException {
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

    /** Waits (up to 5 s) for a call line matching {@code p}: some lines are written just after the client saw the end. */
    JsonNode awaitCall(Predicate<JsonNode> p) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        do {
            for (JsonNode n : calls()) {
                if (p.test(n)) {
                    return n;
                }
            }
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("no matching call was audited; lines: " + calls());
    }

    @Override
    public void close() {
        server.close();
        audit.close();
    }

    static final class Builder {
        private final Path dir;
        private String upstream = "https://api.llm.test";
        private RelayPreset preset = RelayPreset.OPENAI;
        private final List<RelayRoute> routes = new ArrayList<>();
        private final List<ResolvePin> pins = new ArrayList<>();
        private final List<Cidr> allowCidr = new ArrayList<>();
        private InetSocketAddress resolver = new InetSocketAddress("127.0.0.1", 9); // discard port: nothing answers
        private Path ca;
        private Function<AuditLog, RelayKeySource> key = audit -> RelayKeySource.of(() -> KEY);
        private String authHeader;
        private String authScheme;
        private long tokensPerDay;
        private int requestsPerMinute;
        private Clock clock = Clock.systemUTC();
        private int maxConnections = RelaySettings.DEFAULT_MAX_CONNECTIONS;
        private Duration headTimeout = RelaySettings.DEFAULT_HEAD_TIMEOUT;
        private Duration idleTimeout = RelaySettings.DEFAULT_IDLE_TIMEOUT;

        Builder(Path dir) {
            this.dir = dir;
        }

        /** The usual set-up: pinned to {@code llm}, loopback allowed, its CA trusted. */
        Builder upstream(FakeLlmApi llm, TestPki pki) throws IOException {
            return pin("api.llm.test:443=127.0.0.1:" + llm.port()).allowCidr("127.0.0.1/32").trust(pki);
        }

        Builder preset(RelayPreset p) {
            preset = p;
            return this;
        }

        Builder route(String prefix, String... methods) {
            routes.add(RelayRoute.of(prefix, methods));
            return this;
        }

        Builder pin(String pin) {
            pins.add(ResolvePin.parse(pin));
            return this;
        }

        Builder allowCidr(String cidr) {
            allowCidr.add(Cidr.parse(cidr));
            return this;
        }

        Builder resolver(InetSocketAddress dns) {
            resolver = dns;
            return this;
        }

        Builder trust(TestPki pki) throws IOException {
            ca = pki.writeCaPem(dir.resolve("ca-" + System.nanoTime() + ".pem"));
            return this;
        }

        Builder key(Supplier<String> k) {
            key = audit -> RelayKeySource.of(k);
            return this;
        }

        /** The key from {@code file}, re-read when it changes ({@link RelayKeyFile}), its reloads on the relay's audit log. */
        Builder keyFile(Path file) {
            key = audit -> RelayKeyFile.watch(file, audit);
            return this;
        }

        /** The listener's connection limit and request-head timeout. */
        Builder limits(int maxConnections, Duration headTimeout) {
            this.maxConnections = maxConnections;
            this.headTimeout = headTimeout;
            return this;
        }

        /** How long a client connection may be quiet (nothing read, nothing written) before it is closed. */
        Builder idleTimeout(Duration idle) {
            idleTimeout = idle;
            return this;
        }

        /** Header and scheme the key goes in, instead of the preset's (null keeps the preset's). */
        Builder auth(String header, String scheme) {
            authHeader = header;
            authScheme = scheme;
            return this;
        }

        /** Budget limits (0 for none), counted on {@code c}. */
        Builder budget(long tokens, int perMinute, Clock c) {
            tokensPerDay = tokens;
            requestsPerMinute = perMinute;
            clock = c;
            return this;
        }

        RelaySettings settings() {
            return new RelaySettings(new InetSocketAddress("127.0.0.1", 0), RelaySettings.parseUpstream(upstream), preset,
                    routes, pins, allowCidr, resolver, ca, Duration.ofSeconds(3), idleTimeout,
                    authHeader, authScheme, maxConnections, headTimeout);
        }

        RelayFixture start() throws Exception {
            return new RelayFixture(settings(), key, dir, tokensPerDay, requestsPerMinute, clock);
        }
    }
}
