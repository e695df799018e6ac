package dev.enclave.lab.internet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lab CA over real TLS on loopback: a client that trusts ca.pem accepts the servers' names; one that does not, refuses. */
class LabCaTest {
    @TempDir
    Path dir;

    @Test
    void signsTheServersNamesForClientsThatTrustItOnly() throws Exception {
        Path ca = dir.resolve("pki/ca.pem");
        Path p12 = dir.resolve("pki/internet.p12");
        LabCa.create(ca, p12, List.of("api.openai.com", "google.com"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(p12))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(ca))).isEqualTo("rw-r--r--");

        SSLContext server = LabCa.serverContext(p12);
        try (SSLServerSocket listener = (SSLServerSocket) server.getServerSocketFactory().createServerSocket(0, 10,
                java.net.InetAddress.getLoopbackAddress())) {
            Thread accept = new Thread(() -> {
                for (int i = 0; i < 2; i++) {
                    try (SSLSocket s = (SSLSocket) listener.accept()) {
                        s.startHandshake();
                        s.getOutputStream().write('x');
                    } catch (Exception e) {
                        // the untrusting client hangs up during the handshake
                    }
                }
            });
            accept.setDaemon(true);
            accept.start();
            int port = listener.getLocalPort();
            assertThat(connect(trusting(ca), "google.com", port)).isEqualTo('x');
            assertThatThrownBy(() -> connect(SSLContext.getDefault(), "google.com", port)).isInstanceOf(SSLHandshakeException.class);
        }
    }

    private static SSLContext trusting(Path caPem) throws Exception {
        X509Certificate cert;
        try (InputStream in = Files.newInputStream(caPem)) {
            cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        ts.setCertificateEntry("lab", cert);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    /** Connects to loopback as if to {@code name} (SNI and host-name check) and reads one byte. */
    private static int connect(SSLContext ctx, String name, int port) throws Exception {
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port), 5000);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(plain, name, port, true)) {
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.setSoTimeout(5000);
            s.startHandshake();
            return s.getInputStream().read();
        }
    }
}
