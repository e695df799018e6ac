package dev.enclave.egress.relay;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * The TLS client context for the upstream: the JDK's trust store, plus the CAs of {@code --ca}
 * when given (added, never replacing), and host-name verification (RFC 2818 / "HTTPS"). There is
 * no switch to turn verification off: a certificate that does not verify is a 502. ALPN offers
 * h2 and http/1.1; an upstream without ALPN gets HTTP/1.1.
 *
 * <p>The engine is BoringSSL (netty-tcnative) when its native library loads, else the JDK's: the
 * same trust managers and the same host-name check either way (both run the JDK's
 * {@code X509TrustManager}), but BoringSSL encrypts each record for about half the CPU, and the
 * upstream leg is a large share of the relay's work per call. {@code -Denclave.relay.tls=jdk}
 * forces the JDK's engine (for side-by-side measurements, or a platform where the native one misbehaves).
 */
final class RelayTls {
    /** System property choosing the engine: {@code openssl} (the default when available) or {@code jdk}. */
    static final String PROVIDER_PROPERTY = "enclave.relay.tls";

    private RelayTls() {
    }

    /** BoringSSL when it is available and not turned off by {@value #PROVIDER_PROPERTY}{@code =jdk}; else the JDK's. */
    static SslProvider defaultProvider() {
        String wanted = System.getProperty(PROVIDER_PROPERTY, "openssl");
        return !"jdk".equalsIgnoreCase(wanted) && OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
    }

    static SslContext clientContext(Path extraCa) throws IOException {
        return clientContext(extraCa, defaultProvider());
    }

    static SslContext clientContext(Path extraCa, SslProvider provider) throws IOException {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            if (extraCa == null) {
                tmf.init((KeyStore) null);
            } else {
                KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
                ks.load(null, null);
                int n = 0;
                for (X509Certificate c : jdkDefault().getAcceptedIssuers()) {
                    ks.setCertificateEntry("jdk-" + n++, c);
                }
                Collection<? extends Certificate> extra;
                try (InputStream in = Files.newInputStream(extraCa)) {
                    extra = CertificateFactory.getInstance("X.509").generateCertificates(in);
                }
                if (extra.isEmpty()) {
                    throw new IOException("CA file " + extraCa + " holds no PEM certificate");
                }
                for (Certificate c : extra) {
                    ks.setCertificateEntry("extra-" + n++, c);
                }
                tmf.init(ks);
            }
            return SslContextBuilder.forClient()
                    .sslProvider(provider)
                    .trustManager(tmf)
                    // Offer h2 first: one connection then carries every concurrent call of an event loop.
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1))
                    .endpointIdentificationAlgorithm("HTTPS")
                    .build();
        } catch (GeneralSecurityException e) {
            throw new IOException("reading CA file " + extraCa + ": " + e.getMessage(), e);
        }
    }

    private static X509TrustManager jdkDefault() throws GeneralSecurityException {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager x) {
                return x;
            }
        }
        throw new GeneralSecurityException("the JDK has no X.509 trust manager");
    }
}
