package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import dev.enclave.gateway.testing.AnyCertificateClient;
import dev.enclave.gateway.tls.SelfSignedCertificate;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The running gateway takes a certificate that replaces the self-signed one in STATE/tls without a
 * restart, and keeps serving the one it has when the replacement is broken.
 */
class TlsReloadTest {
    @TempDir
    Path state;
    @TempDir
    Path elsewhere;
    private final BlockingQueue<String> notices = new LinkedBlockingQueue<>();
    private GatewayServer gateway;
    private AuditLog audit;
    private int port;

    @BeforeEach
    void start() throws Exception {
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash("a long passphrase".toCharArray())));
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null, URI.create("http://127.0.0.1:9"),
                state.resolve("users"), state, null, null, List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 5,
                Duration.ofMinutes(10), Duration.ofHours(1)), audit, notices::add);
        port = gateway.start().getPort();
    }

    @AfterEach
    void stop() {
        gateway.close();
        audit.close();
    }

    @Test
    void aReplacedCertificateIsServedWithoutARestartAndABrokenOneIsRefused() throws Exception {
        String original = served();
        assertThat(original).isEqualTo(gateway.fingerprint());

        SelfSignedCertificate replacement = SelfSignedCertificate.ensure(elsewhere.resolve("a"), List.of("gw.test", "new.test"),
                List.of(InetAddress.getLoopbackAddress()));
        Files.copy(replacement.certFile(), state.resolve("tls/cert.pem"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(replacement.keyFile(), state.resolve("tls/key.pem"), StandardCopyOption.REPLACE_EXISTING);

        assertThat(notices.poll(20, TimeUnit.SECONDS)).as("the file watcher's report")
                .isEqualTo("enclave gateway: TLS certificate reloaded from " + state.resolve("tls/cert.pem") + ", SHA-256 "
                        + replacement.fingerprint());
        assertThat(served()).isEqualTo(replacement.fingerprint());

        // A certificate without its key: refused, the replacement stays.
        SelfSignedCertificate stray = SelfSignedCertificate.ensure(elsewhere.resolve("b"), List.of("gw.test"),
                List.of(InetAddress.getLoopbackAddress()));
        Files.copy(stray.certFile(), state.resolve("tls/cert.pem"), StandardCopyOption.REPLACE_EXISTING);

        assertThat(notices.poll(20, TimeUnit.SECONDS)).as("the file watcher's report")
                .startsWith("enclave gateway: TLS reload refused, still serving the previous certificate: ")
                .contains(state.resolve("tls/key.pem") + " is not the key of the certificate in " + state.resolve("tls/cert.pem"))
                .doesNotContain("\n");
        assertThat(served()).isEqualTo(replacement.fingerprint());

        // The operator puts the right key beside it and signals (what SIGHUP does in the CLI).
        Files.copy(stray.keyFile(), state.resolve("tls/key.pem"), StandardCopyOption.REPLACE_EXISTING);
        assertThat(gateway.reloadTls().refused()).isFalse();
        assertThat(served()).isEqualTo(stray.fingerprint());

        audit.flush();
        String lines = Files.readString(state.resolve("audit.log"));
        assertThat(lines).contains("\"event\":\"tls_reload\",\"result\":\"ok\"")
                .contains("\"event\":\"tls_reload\",\"result\":\"refused\"")
                .contains("\"fingerprint\":\"" + stray.fingerprint() + "\"");
    }

    /** SHA-256 of the certificate a new client is given. */
    private String served() throws Exception {
        try (SSLSocket s = AnyCertificateClient.handshake(port, 5000)) {
            return SelfSignedCertificate.fingerprint((X509Certificate) s.getSession().getPeerCertificates()[0]);
        }
    }
}
