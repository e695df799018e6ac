package dev.enclave.gateway;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/** Clients that trust exactly the gateway's self-signed certificate in {@code STATE/tls}. */
public final class GatewayTrust {
    private GatewayTrust() {
    }

    public static X509Certificate certificate(Path state) throws Exception {
        try (InputStream in = Files.newInputStream(state.resolve("tls/cert.pem"))) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    public static SSLContext context(Path state) throws Exception {
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        ts.setCertificateEntry("gw", certificate(state));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    /** A TLS socket to the gateway, handshake done, reads time out after {@code readTimeoutMillis}. */
    public static SSLSocket socket(Path state, int port, int readTimeoutMillis) throws Exception {
        SSLSocket s = (SSLSocket) context(state).getSocketFactory().createSocket("127.0.0.1", port);
        s.setSoTimeout(readTimeoutMillis);
        s.startHandshake();
        return s;
    }
}
