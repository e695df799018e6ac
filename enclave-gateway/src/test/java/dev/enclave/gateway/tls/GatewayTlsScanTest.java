package dev.enclave.gateway.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.GatewayServer;
import dev.enclave.gateway.GatewaySettings;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running gateway scanned from outside as an auditor would: sslscan lists every protocol and
 * suite it accepts, and {@link SslScanReport#problems()} holds them to the policy (TLS 1.2 and 1.3
 * only; ECDHE with AES-GCM or ChaCha20-Poly1305; no insecure renegotiation; an ECDSA key). The
 * same check is run against a deliberately weak server to show it can fail.
 */
class GatewayTlsScanTest {
    private static final Path SSLSCAN = Path.of("/usr/bin/sslscan");
    private static final Path OPENSSL = Path.of("/usr/bin/openssl");
    @TempDir
    static Path state;
    static AuditLog audit;
    static GatewayServer gateway;
    static InetSocketAddress address;

    @BeforeAll
    static void startGateway() throws Exception {
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash("a long passphrase".toCharArray())));
        audit = AuditLog.open(state.resolve("audit.log"));
        // The upstream is never reached: only the TLS layer is under test.
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:9"), state.resolve("users"), state, null, null, List.of("gw.test"), 16 * 1024,
                Duration.ofSeconds(30), 5, Duration.ofMinutes(10), Duration.ofHours(1)), audit);
        address = gateway.start();
    }

    @AfterAll
    static void stopGateway() {
        gateway.close();
        audit.close();
    }

    @Test
    void sslscanFindsOnlyTls12And13WithForwardSecretAeadSuitesAndAnEcdsaKey() throws Exception {
        assumeTrue(Files.isExecutable(SSLSCAN), "sslscan is not installed (apt-get install sslscan)");
        SslScanReport report = SslScanReport.scan(SSLSCAN.toString(), "127.0.0.1", address.getPort());

        assertThat(report.problems()).as(report.raw()).isEmpty();
        assertThat(report.protocols()).containsEntry("SSLv2", false).containsEntry("SSLv3", false)
                .containsEntry("TLSv1.0", false).containsEntry("TLSv1.1", false)
                .containsEntry("TLSv1.2", true).containsEntry("TLSv1.3", true);
        assertThat(report.ciphers()).extracting(SslScanReport.Cipher::protocol).contains("TLSv1.2", "TLSv1.3");
        assertThat(report.ciphers()).extracting(SslScanReport.Cipher::name)
                .allMatch(n -> n.matches("TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA\\d+|ECDHE-ECDSA-(AES\\d+-GCM-SHA\\d+|CHACHA20-POLY1305)"));
        assertThat(report.renegotiationSupported() && !report.renegotiationSecure()).as("insecure renegotiation").isFalse();
        assertThat(report.certificateKeyType()).isEqualTo("EC");
    }

    @Test
    void theSameCheckFlagsAServerOfferingTls10CbcSuitesAndAnRsaKey() throws Exception {
        assumeTrue(Files.isExecutable(SSLSCAN), "sslscan is not installed (apt-get install sslscan)");
        assumeTrue(Files.isExecutable(OPENSSL), "openssl is not installed");
        Path key = state.resolve("weak.key");
        Path cert = state.resolve("weak.crt");
        run(OPENSSL.toString(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=weak",
                "-keyout", key.toString(), "-out", cert.toString());
        Process weak = new ProcessBuilder(OPENSSL.toString(), "s_server", "-accept", "127.0.0.1:0", "-www",
                "-cert", cert.toString(), "-key", key.toString(), "-min_protocol", "TLSv1", "-max_protocol", "TLSv1.2",
                "-cipher", "ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0").redirectErrorStream(true).start();
        try {
            int port = acceptedPort(weak);
            SslScanReport report = SslScanReport.scan(SSLSCAN.toString(), "127.0.0.1", port);

            assertThat(report.problems()).as(report.raw()).contains(
                    "TLSv1.0 is offered",
                    "TLSv1.1 is offered",
                    "TLSv1.3 is not offered",
                    "TLSv1.0 cipher ECDHE-RSA-AES128-SHA is not AEAD (AES-GCM or ChaCha20-Poly1305)",
                    "TLSv1.2 cipher AES128-SHA has no ECDHE key exchange (no forward secrecy)",
                    "certificate key is RSA, not ECDSA");
        } finally {
            weak.destroy();
            weak.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void theGatewayChoosesNoCompressionWhenAClientOffersDeflate() throws Exception {
        ServerHelloProbe.ServerHello hello = ServerHelloProbe.offerDeflate(address);

        assertThat(hello.version()).isEqualTo(0x0303);
        assertThat(hello.compressionMethod()).as("compression method (0 = none, 1 = DEFLATE)").isZero();
        assertThat(hello.cipherSuite()).isIn(0xC02B, 0xC02C, 0xCCA9); // ECDHE-ECDSA with AES-GCM or ChaCha20
    }

    @Test
    void theCompressionProbeReadsWhatAServerHelloChose() throws Exception {
        // A ServerHello that picked DEFLATE: the probe reports it, so the test above could fail.
        ByteArrayOutputStream hello = new ByteArrayOutputStream();
        hello.writeBytes(new byte[] {0x02, 0, 0, 38 + 4, 0x03, 0x03});
        hello.writeBytes(new byte[32]);
        hello.writeBytes(new byte[] {0, (byte) 0xC0, 0x2B, ServerHelloProbe.DEFLATE});
        byte[] body = hello.toByteArray();
        ByteArrayOutputStream record = new ByteArrayOutputStream();
        record.writeBytes(new byte[] {0x16, 0x03, 0x03, 0, (byte) body.length});
        record.writeBytes(body);

        ServerHelloProbe.ServerHello read = ServerHelloProbe.read(new DataInputStream(new ByteArrayInputStream(record.toByteArray())));

        assertThat(read).isEqualTo(new ServerHelloProbe.ServerHello(0x0303, 0xC02B, ServerHelloProbe.DEFLATE));
    }

    @Test
    void aClientInitiatedRenegotiationIsRefused() throws Exception {
        assumeTrue(Files.isExecutable(OPENSSL), "openssl is not installed");
        // openssl s_client renegotiates when it reads a line "R"; a server that allows it lets any
        // client make it repeat the expensive half of a handshake on one connection, for free.
        Process p = new ProcessBuilder(OPENSSL.toString(), "s_client", "-tls1_2", "-connect", "127.0.0.1:" + address.getPort(),
                "-servername", "gw.test").redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            byte[] buf = new byte[4096];
            try {
                for (int n; (n = p.getInputStream().read(buf)) >= 0; ) {
                    synchronized (out) {
                        out.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                        out.notifyAll();
                    }
                }
            } catch (IOException ignored) {
                // the process was destroyed
            }
        });
        reader.start();
        try (OutputStream in = p.getOutputStream()) {
            awaitOutput(out, "Verify return code"); // s_client's session summary: the first handshake is done
            in.write("R\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            assertThat(p.waitFor(15, TimeUnit.SECONDS)).as("s_client ends because the server closed the connection: " + out).isTrue();
        } finally {
            p.destroyForcibly();
            reader.join(5000);
        }
        String log;
        synchronized (out) {
            log = out.toString();
        }
        assertThat(log).contains("RENEGOTIATING").contains("alert handshake failure");
        assertThat(log.split("Verify return code", -1)).as("one handshake only: " + log).hasSize(2);
    }

    private static void awaitOutput(StringBuilder out, String marker) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        synchronized (out) {
            while (!out.toString().contains(marker) && System.nanoTime() < deadline) {
                out.wait(200);
            }
        }
    }

    private static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    /** Reads openssl s_server's "ACCEPT 127.0.0.1:PORT" line (it binds port 0 itself: no race). */
    private static int acceptedPort(Process server) throws IOException {
        StringBuilder line = new StringBuilder();
        StringBuilder seen = new StringBuilder();
        int c;
        while ((c = server.getInputStream().read()) >= 0) {
            if (c != '\n') {
                line.append((char) c);
                continue;
            }
            seen.append(line).append('\n');
            if (line.toString().startsWith("ACCEPT ")) {
                return Integer.parseInt(line.substring(line.lastIndexOf(":") + 1).trim());
            }
            line.setLength(0);
        }
        throw new IOException("openssl s_server did not start: " + seen + line);
    }
}
