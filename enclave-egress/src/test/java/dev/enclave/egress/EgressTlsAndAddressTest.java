package dev.enclave.egress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.enclave.config.EgressLimits;
import dev.enclave.config.EgressMode;
import dev.enclave.egress.testing.EchoServer;
import dev.enclave.egress.testing.FakeDns;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.ProxyFixture;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The checks after the name: resolution (pins, the proxy's own DNS, rebinding, failure), the
 * address class of every answer, the TLS ClientHello, client ranges, limits, report mode and
 * reload. Each test starts its own proxy so its configuration is visible in the test.
 */
class EgressTlsAndAddressTest {
    @TempDir
    Path tmp;

    // ---- TLS ClientHello (cases 18, 19) ---------------------------------------------------------

    @Test
    void case18SniDifferentFromConnectHostClosesTheTunnel() throws Exception {
        TestPki pki = TestPki.forNames("api.llm.test", "evil.test");
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             ProxyFixture proxy = llmProxy(llm).start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            c.send("CONNECT api.llm.test:443 HTTP/1.1\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            SSLSocket tls = tlsOver(pki, c, "evil.test");
            assertThatThrownBy(tls::startHandshake).isInstanceOf(IOException.class);
            JsonNode line = proxy.lastDecision();
            assertThat(line.path("decision").asText()).isEqualTo("deny");
            assertThat(line.path("reason").asText()).isEqualTo("sni_mismatch");
            assertThat(line.path("sni").asText()).isEqualTo("evil.test");
            assertThat(llm.requests()).isZero();
        }
    }

    @Test
    void case19PlainBytesOnATlsPortCloseTheTunnel() throws Exception {
        TestPki pki = TestPki.forNames("api.llm.test");
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             ProxyFixture proxy = llmProxy(llm).start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            c.send("CONNECT api.llm.test:443 HTTP/1.1\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            c.send("GET /v1/models HTTP/1.1\r\nHost: api.llm.test\r\n\r\n");
            RawClient.Drained d = c.drain(5000);
            assertThat(d.closed()).isTrue();
            assertThat(d.bytes()).isEmpty();
            assertThat(proxy.lastDecision().path("reason").asText()).isEqualTo("not_tls");
            assertThat(proxy.lastDecision().path("bytes_up").asLong()).isZero();
        }
    }

    @Test
    void case19ClientHelloWithoutSniClosesTheTunnel() throws Exception {
        TestPki pki = TestPki.forNames("api.llm.test");
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             ProxyFixture proxy = llmProxy(llm).start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            c.send("CONNECT api.llm.test:443 HTTP/1.1\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            SSLSocket tls = (SSLSocket) pki.clientContext().getSocketFactory().createSocket(c.socket(), "127.0.0.1", 443, true);
            SSLParameters p = tls.getSSLParameters();
            p.setServerNames(List.of());
            tls.setSSLParameters(p);
            assertThatThrownBy(tls::startHandshake).isInstanceOf(IOException.class);
            assertThat(proxy.lastDecision().path("reason").asText()).isEqualTo("sni_missing");
        }
    }

    // ---- addresses (cases 12, 13, 27, 28) -------------------------------------------------------

    @ParameterizedTest(name = "case {0}: allowed name resolving to {1} is refused as {2}")
    @CsvSource({
        "12, 169.254.169.254, metadata_address",
        "12, fd00:ec2::254, metadata_address",
        "13, 10.0.0.5, private_address",
        "13, 172.16.0.1, private_address",
        "13, 192.168.1.1, private_address",
        "13, 127.0.0.2, loopback_address",
        "27, 0.0.0.1, unspecified_address",
        "27, 240.0.0.1, reserved_address",
        "27, 198.18.0.1, benchmark_address",
        "27, 192.0.0.1, reserved_address",
        "27, 100.64.0.1, cgnat_address",
        "27, 224.0.0.1, multicast_address",
        "27, 192.0.2.1, documentation_address",
        "27, 64:ff9b::7f00:1, loopback_address",
        "27, 64:ff9b::a00:5, private_address",
        "27, 64:ff9b:1::1, private_address",
        "27, 2002:7f00:1::, loopback_address",
        "27, 2002:a9fe:a9fe::, metadata_address",
        "27, 2001::1, reserved_address",
        "27, fe80::1, link_local_address"})
    void deniedAddressClassesAreRefusedEvenWhenTheNameIsAllowed(String caseNo, String address, String reason) throws Exception {
        String pinned = address.contains(":") ? "[" + address + "]" : address;
        try (ProxyFixture proxy = ProxyFixture.builder()
                .allow("named.test:443")
                .pin("named.test:443=" + pinned + ":443")
                .start(tmp)) {
            RawClient.Response r = RawClient.connect(proxy.address(), "named.test:443");
            assertThat(r.status()).isEqualTo(403);
            assertThat(r.reason()).isEqualTo(reason);
            assertThat(proxy.lastDecision().path("resolved").asText()).contains(address.contains(":") ? ":" : address);
        }
    }

    @Test
    void case13AllowCidrAdmitsAnAllowedNameInsideItsRange() throws Exception {
        try (EchoServer echo = new EchoServer("127.0.0.3");
             ProxyFixture proxy = ProxyFixture.builder()
                     .allow("internal.test:7000")
                     .pin("internal.test:7000=127.0.0.3:" + echo.port())
                     .allowCidr("127.0.0.0/24")
                     .start(tmp)) {
            assertThat(RawClient.connect(proxy.address(), "internal.test:7000").status()).isEqualTo(200);
            assertThat(proxy.lastDecision().path("rule").asText()).contains("allow_cidr 127.0.0.0/24");
        }
    }

    @Test
    void allowCidrNeverOpensTheMetadataService() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.builder()
                .allow("meta.test:80")
                .pin("meta.test=169.254.169.254")
                .allowCidr("169.254.0.0/16")
                .start(tmp)) {
            RawClient.Response r = RawClient.connect(proxy.address(), "meta.test:80");
            assertThat(r.status()).isEqualTo(403);
            assertThat(r.reason()).isEqualTo("metadata_address");
        }
    }

    @Test
    void case28ConnectToTheProxyItselfIsRefused() throws Exception {
        int port;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort(); // a free port, known before the proxy binds it
        }
        try (ProxyFixture proxy = ProxyFixture.builder().allowCidr("127.0.0.0/8")
                .allow("self.test:" + port).pin("self.test=127.0.0.1").startOn(tmp, port)) {
            RawClient.Response r = RawClient.connect(proxy.address(), "self.test:" + port);
            assertThat(r.status()).isEqualTo(403);
            assertThat(r.reason()).isEqualTo("proxy_itself");
        }
    }

    // ---- DNS (cases 14, 15) ---------------------------------------------------------------------

    @Test
    void case14DnsRebindingCannotMoveAnOpenDecision() throws Exception {
        try (FakeDns dns = new FakeDns();
             EchoServer checked = new EchoServer("127.0.0.2");
             EchoServer trap = new EchoServer("127.0.0.3", checked.port())) {
            // First answer: the checked server (inside allow_cidr). Every later answer: a trap on the
            // same port at 127.0.0.3, outside allow_cidr, that must never see a connection.
            dns.answer("rebind.test", "127.0.0.2", "127.0.0.3");
            try (ProxyFixture proxy = ProxyFixture.builder()
                    .allow("rebind.test:" + checked.port())
                    .allowCidr("127.0.0.2/32")
                    .resolver(dns.address())
                    .start(tmp)) {
                try (RawClient c = new RawClient(proxy.address())) {
                    c.send("CONNECT rebind.test:" + checked.port() + " HTTP/1.1\r\n\r\n");
                    assertThat(c.readResponse().status()).isEqualTo(200);
                    c.send("ping");
                    assertThat(new String(c.readExactly(4), StandardCharsets.US_ASCII)).isEqualTo("ping");
                }
                assertThat(checked.accepted()).isEqualTo(1);
                int queriesAfterFirst = dns.queries("rebind.test");
                assertThat(queriesAfterFirst).as("one lookup per CONNECT, none at connect time").isEqualTo(1);

                RawClient.Response second = RawClient.connect(proxy.address(), "rebind.test:" + checked.port());
                assertThat(second.status()).isEqualTo(403);
                assertThat(second.reason()).isEqualTo("loopback_address");
                assertThat(trap.accepted()).isZero();
                assertThat(proxy.lastDecision().path("resolved").asText()).startsWith("127.0.0.3:");
            }
        }
    }

    @Test
    void case15NxdomainIsRefusedNeverTunnelled() throws Exception {
        try (FakeDns dns = new FakeDns();
             ProxyFixture proxy = ProxyFixture.builder().allow("missing.test:443").resolver(dns.address()).start(tmp)) {
            RawClient.Response r = RawClient.connect(proxy.address(), "missing.test:443");
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.reason()).isEqualTo("dns_failed");
        }
    }

    @Test
    void case15UnreachableResolverIsRefusedNeverTunnelled() throws Exception {
        // The default fixture resolver is 127.0.0.1:9, where nothing answers.
        try (ProxyFixture proxy = ProxyFixture.builder().allow("any.test:443").start(tmp)) {
            long start = System.nanoTime();
            RawClient.Response r = RawClient.connect(proxy.address(), "any.test:443");
            assertThat(r.status()).isEqualTo(502);
            assertThat(r.reason()).isEqualTo("dns_failed");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("refused, not hung").isLessThan(Duration.ofSeconds(20));
        }
    }

    // ---- clients and limits (cases 24, 25) -------------------------------------------------------

    @Test
    void case25ClientOutsideClientsIsRefusedWithoutAReply() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.builder().allow("api.llm.test:443").client("10.0.0.0/8").start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            c.send("CONNECT api.llm.test:443 HTTP/1.1\r\n\r\n");
            RawClient.Drained d = c.drain(5000);
            assertThat(d.closed()).isTrue();
            assertThat(d.bytes()).isEmpty();
            assertThat(proxy.lastDecision().path("reason").asText()).isEqualTo("client_not_allowed");
        }
    }

    @Test
    void case24SlowlorisIsCutAtTheHeadTimeout() throws Exception {
        EgressLimits limits = new EgressLimits(32 * 1024, Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofMinutes(1), 100);
        try (ProxyFixture proxy = ProxyFixture.builder().allow("api.llm.test:443").limits(limits).start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            byte[] head = "CONNECT api.llm.test:443 HTTP/1.1\r\nX-Slow: 1\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
            long start = System.nanoTime();
            int sent = 0;
            try {
                for (; sent < head.length; sent++) {
                    c.send(new byte[] {head[sent]});
                    Thread.sleep(150);
                    if (c.socket().getInputStream().available() > 0) {
                        break;
                    }
                }
            } catch (IOException closed) {
                // the proxy may already have closed: that is the point
            }
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).isEqualTo(408);
            assertThat(r.reason()).isEqualTo("head_timeout");
            assertThat(sent).as("cut before the head was complete").isLessThan(head.length);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        }
    }

    @Test
    void connectionsBeyondTheLimitAreRefused() throws Exception {
        EgressLimits limits = new EgressLimits(32 * 1024, Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofMinutes(1), 2);
        try (ProxyFixture proxy = ProxyFixture.builder().limits(limits).start(tmp);
             RawClient a = new RawClient(proxy.address());
             RawClient b = new RawClient(proxy.address())) {
            a.send("C");
            b.send("C");
            Thread.sleep(200);
            try (RawClient third = new RawClient(proxy.address())) {
                assertThat(third.drain(3000).closed()).isTrue();
            }
            assertThat(proxy.lastDecision().path("reason").asText()).isEqualTo("too_many_connections");
        }
    }

    // ---- tunnel lifetime --------------------------------------------------------------------------

    @Test
    void halfCloseFromTheClientStillDeliversTheAnswer() throws Exception {
        // The origin reads until end of stream and only then answers, as an HTTP/1.0 or 'nc -q' peer does.
        try (java.net.ServerSocket origin = new java.net.ServerSocket(0, 8, java.net.InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                try (java.net.Socket s = origin.accept()) {
                    int n = s.getInputStream().readAllBytes().length;
                    s.getOutputStream().write(("got " + n + " bytes").getBytes(StandardCharsets.US_ASCII));
                } catch (IOException ignored) {
                    // test fails on the client side
                }
            });
            t.setDaemon(true);
            t.start();
            try (ProxyFixture proxy = ProxyFixture.builder().allow("eof.test:" + origin.getLocalPort())
                    .pin("eof.test=127.0.0.1").allowCidr("127.0.0.1/32").start(tmp);
                 RawClient c = new RawClient(proxy.address())) {
                c.send("CONNECT eof.test:" + origin.getLocalPort() + " HTTP/1.1\r\n\r\n");
                assertThat(c.readResponse().status()).isEqualTo(200);
                c.send("hello");
                c.socket().shutdownOutput();
                RawClient.Drained d = c.drain(5000);
                assertThat(new String(d.bytes(), StandardCharsets.US_ASCII)).isEqualTo("got 5 bytes");
                assertThat(d.closed()).isTrue();
                JsonNode line = proxy.lastDecision();
                assertThat(line.path("bytes_up").asLong()).isEqualTo(5);
                assertThat(line.path("bytes_down").asLong()).isEqualTo(11);
            }
        }
    }

    @Test
    void aDestinationThatStopsReadingStallsTheClientInsteadOfFillingTheProxy() throws Exception {
        try (java.net.ServerSocket stuck = new java.net.ServerSocket(0, 8, java.net.InetAddress.getLoopbackAddress());
             ProxyFixture proxy = ProxyFixture.builder().allow("stuck.test:" + stuck.getLocalPort())
                     .pin("stuck.test=127.0.0.1").allowCidr("127.0.0.1/32").start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            c.send("CONNECT stuck.test:" + stuck.getLocalPort() + " HTTP/1.1\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            try (java.net.Socket accepted = stuck.accept()) { // accepted, never read
                java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
                Thread writer = new Thread(() -> {
                    byte[] chunk = new byte[64 * 1024];
                    try {
                        while (written.get() < 512L * 1024 * 1024) {
                            c.socket().getOutputStream().write(chunk);
                            written.addAndGet(chunk.length);
                        }
                    } catch (IOException ignored) {
                        // closed at the end of the test
                    }
                });
                writer.setDaemon(true);
                writer.start();
                Thread.sleep(3000);
                long stalledAt = written.get();
                Thread.sleep(1000);
                // Kernel socket buffers on both hops hold some MiB; the proxy adds at most its
                // high-water mark and one read. Without backpressure this would be hundreds of MiB.
                assertThat(written.get()).as("client kept writing while the destination did not read")
                        .isEqualTo(stalledAt).isLessThan(64L * 1024 * 1024);
            }
        }
    }

    @Test
    void idleTunnelIsClosedAfterTheIdleTimeout() throws Exception {
        EgressLimits limits = new EgressLimits(32 * 1024, Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofSeconds(1), 100);
        try (EchoServer echo = new EchoServer("127.0.0.1");
             ProxyFixture proxy = ProxyFixture.builder().allow("idle.test:" + echo.port()).pin("idle.test=127.0.0.1")
                     .allowCidr("127.0.0.1/32").limits(limits).start(tmp);
             RawClient c = new RawClient(proxy.address())) {
            c.send("CONNECT idle.test:" + echo.port() + " HTTP/1.1\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(200);
            long start = System.nanoTime();
            assertThat(c.drain(15_000).closed()).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(800), Duration.ofSeconds(15));
        }
    }

    @Test
    void aProxyThatCannotWriteItsAuditLogRefusesEveryConnection() throws Exception {
        assumeTrue(java.nio.file.Files.isWritable(Path.of("/dev/full")), "/dev/full is not available");
        try (EchoServer echo = new EchoServer("127.0.0.1");
             dev.enclave.audit.AuditLog broken = dev.enclave.audit.AuditLog.open(Path.of("/dev/full"));
             EgressServer server = new EgressServer(ProxyFixture.builder().allow("ok.test:" + echo.port())
                     .pin("ok.test=127.0.0.1").allowCidr("127.0.0.1/32").config(), broken)) {
            InetSocketAddress address = server.start(); // its start line already fails to reach the disk
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (broken.healthy() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(broken.healthy()).isFalse();
            try (RawClient c = new RawClient(address)) {
                c.send("CONNECT ok.test:" + echo.port() + " HTTP/1.1\r\n\r\n");
                RawClient.Drained d = c.drain(3000);
                assertThat(d.closed()).isTrue();
                assertThat(d.bytes()).isEmpty();
            }
            assertThat(echo.accepted()).isZero();
        }
    }

    // ---- report mode and reload -------------------------------------------------------------------

    @Test
    void reportModeLetsUnlistedNamesThroughButAuditsWouldDeny() throws Exception {
        try (EchoServer echo = new EchoServer("127.0.0.1");
             ProxyFixture proxy = ProxyFixture.builder()
                     .mode(EgressMode.REPORT)
                     .pin("unlisted.test=127.0.0.1")
                     .allowCidr("127.0.0.1/32")
                     .start(tmp)) {
            assertThat(RawClient.connect(proxy.address(), "unlisted.test:" + echo.port()).status()).isEqualTo(200);
            JsonNode line = proxy.lastDecision();
            assertThat(line.path("decision").asText()).isEqualTo("report_would_deny");
            assertThat(line.path("reason").asText()).isEqualTo("host_not_allowed");
            assertThat(line.path("mode").asText()).isEqualTo("report");
        }
    }

    @Test
    void reportModeStillRefusesIpLiteralsAndTheMetadataService() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.builder().mode(EgressMode.REPORT).pin("meta.test=169.254.169.254").start(tmp)) {
            assertThat(RawClient.connect(proxy.address(), "127.0.0.1:443").reason()).isEqualTo("ip_literal");
            assertThat(RawClient.connect(proxy.address(), "meta.test:80").reason()).isEqualTo("metadata_address");
        }
    }

    @Test
    void reloadChangesTheAllowlistWithoutDroppingOpenTunnels() throws Exception {
        try (EchoServer echo = new EchoServer("127.0.0.1")) {
            ProxyFixture.Builder before = ProxyFixture.builder()
                    .allow("kept.test:" + echo.port(), "dropped.test:" + echo.port())
                    .pin("kept.test=127.0.0.1").pin("dropped.test=127.0.0.1").allowCidr("127.0.0.1/32");
            try (ProxyFixture proxy = before.start(tmp); RawClient open = new RawClient(proxy.address())) {
                open.send("CONNECT dropped.test:" + echo.port() + " HTTP/1.1\r\n\r\n");
                assertThat(open.readResponse().status()).isEqualTo(200);

                proxy.server().reload(ProxyFixture.builder()
                        .allow("kept.test:" + echo.port())
                        .pin("kept.test=127.0.0.1").allowCidr("127.0.0.1/32").config());

                open.send("still-open");
                assertThat(new String(open.readExactly(10), StandardCharsets.US_ASCII)).isEqualTo("still-open");
                assertThat(RawClient.connect(proxy.address(), "dropped.test:" + echo.port()).reason()).isEqualTo("host_not_allowed");
                assertThat(RawClient.connect(proxy.address(), "kept.test:" + echo.port()).status()).isEqualTo(200);
            }
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private static ProxyFixture.Builder llmProxy(FakeLlmApi llm) {
        return ProxyFixture.builder()
                .allow("api.llm.test:443")
                .pin("api.llm.test:443=127.0.0.1:" + llm.port())
                .allowCidr("127.0.0.1/32");
    }

    private static SSLSocket tlsOver(TestPki pki, RawClient c, String sni) throws IOException {
        SSLSocket tls = (SSLSocket) pki.clientContext().getSocketFactory().createSocket(c.socket(), sni, 443, true);
        SSLParameters p = tls.getSSLParameters();
        p.setServerNames(List.of(new SNIHostName(sni)));
        tls.setSSLParameters(p);
        return tls;
    }
}
