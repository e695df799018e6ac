package dev.enclave.egress.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.EgressConfig;
import dev.enclave.config.EgressLimits;
import dev.enclave.config.EgressMode;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import dev.enclave.egress.EgressServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Starts a real {@link EgressServer} on 127.0.0.1:0 with an audit file, built like the CLI builds it. */
public final class ProxyFixture implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final EgressServer server;
    private final AuditLog audit;
    private final Path auditFile;
    private final InetSocketAddress address;

    ProxyFixture(EgressConfig config, Path dir) throws Exception {
        auditFile = dir.resolve("audit-" + System.nanoTime() + ".log");
        audit = AuditLog.open(auditFile);
        server = new EgressServer(config, audit);
        address = server.start();
    }

    public static Builder builder() {
        return new Builder();
    }

    public InetSocketAddress address() {
        return address;
    }

    public EgressServer server() {
        return server;
    }

    /** Audit lines with {@code event} tunnel or request, after waiting for open connections to finish. */
    public List<JsonNode> decisions() throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (server.openConnections() > 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        audit.flush();
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(auditFile)) {
            JsonNode n = JSON.readTree(line);
            String event = n.path("event").asText();
            if (event.equals("tunnel") || event.equals("request")) {
                out.add(n);
            }
        }
        return out;
    }

    /** The last decision line (waits briefly for it to be written). */
    public JsonNode lastDecision() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        List<JsonNode> lines = decisions();
        while (lines.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
            lines = decisions();
        }
        if (lines.isEmpty()) {
            throw new AssertionError("no decision was audited");
        }
        return lines.get(lines.size() - 1);
    }

    @Override
    public void close() {
        server.close();
        audit.close();
    }

    public static final class Builder {
        private final List<HostPattern> allow = new ArrayList<>();
        private final List<Cidr> allowCidr = new ArrayList<>();
        private final List<ResolvePin> pins = new ArrayList<>();
        private final List<Cidr> clients = new ArrayList<>();
        private InetSocketAddress resolver = new InetSocketAddress("127.0.0.1", 9); // discard port: nothing answers
        private EgressMode mode = EgressMode.ENFORCE;
        private EgressLimits limits = new EgressLimits(32 * 1024, Duration.ofSeconds(5), Duration.ofSeconds(2),
                Duration.ofMinutes(1), 4096);

        public Builder allow(String... entries) {
            for (String e : entries) {
                allow.add(HostPattern.parse(e));
            }
            return this;
        }

        public Builder allowCidr(String cidr) {
            allowCidr.add(Cidr.parse(cidr));
            return this;
        }

        public Builder pin(String pin) {
            pins.add(ResolvePin.parse(pin));
            return this;
        }

        public Builder client(String cidr) {
            clients.add(Cidr.parse(cidr));
            return this;
        }

        public Builder resolver(InetSocketAddress dns) {
            this.resolver = dns;
            return this;
        }

        public Builder mode(EgressMode mode) {
            this.mode = mode;
            return this;
        }

        public Builder limits(EgressLimits limits) {
            this.limits = limits;
            return this;
        }

        public EgressConfig config() {
            return new EgressConfig(new InetSocketAddress("127.0.0.1", 0), allow, allowCidr, pins, resolver, clients,
                    EgressConfig.DEFAULT_TLS_PORTS, mode, limits, null);
        }

        public ProxyFixture start(Path dir) throws Exception {
            return new ProxyFixture(config(), dir);
        }

        /** Starts on 127.0.0.1:{@code port} instead of an ephemeral port. */
        public ProxyFixture startOn(Path dir, int port) throws Exception {
            EgressConfig c = config();
            return new ProxyFixture(new EgressConfig(new InetSocketAddress("127.0.0.1", port), c.allow(), c.allowCidr(),
                    c.resolve(), c.resolver(), c.clients(), c.tlsPorts(), c.mode(), c.limits(), c.audit()), dir);
        }
    }
}
