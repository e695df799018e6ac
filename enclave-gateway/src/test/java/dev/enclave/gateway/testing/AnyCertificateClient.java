package dev.enclave.gateway.testing;

import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/** A TLS client that accepts any certificate, so a test can look at which one the server gave it. */
public final class AnyCertificateClient {
    private AnyCertificateClient() {
    }

    /** A TLS socket to {@code 127.0.0.1:port}, handshake done, reads time out after {@code readTimeoutMillis}. */
    public static SSLSocket handshake(int port, int readTimeoutMillis) throws Exception {
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, new TrustManager[] {new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        }}, null);
        SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port);
        s.setSoTimeout(readTimeoutMillis);
        s.startHandshake();
        return s;
    }
}
