package dev.enclave.gateway.tls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Server TLS settings for the gateway: TLS 1.3 and 1.2 only, and for 1.2 only the AEAD suites
 * with forward secrecy from Mozilla's "intermediate" profile (ECDHE with AES-GCM or
 * ChaCha20-Poly1305). SSLv3, TLS 1.0/1.1, CBC, RSA key exchange and static DH are not offered.
 */
public final class TlsContexts {
    /** TLS 1.3 suites first, then Mozilla intermediate's TLS 1.2 suites without DHE. */
    public static final List<String> CIPHERS = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
    public static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    static {
        // The JDK lets a TLS 1.2 client renegotiate as often as it likes on one connection (testssl:
        // "Secure Client-Initiated Renegotiation VULNERABLE, DoS threat"): each one costs the server a
        // full handshake. The switch is JVM-wide and read once, when the JDK's server handshake
        // class loads, i.e. at the first server handshake, which always comes after a context from
        // here. An explicit -D setting wins.
        if (System.getProperty("jdk.tls.rejectClientInitiatedRenegotiation") == null) {
            System.setProperty("jdk.tls.rejectClientInitiatedRenegotiation", "true");
        }
    }

    private TlsContexts() {
    }

    /**
     * A server context from PEM files (certificate chain, PKCS#8 key). ALPN offers h2 and
     * http/1.1; a client that sends no ALPN, or names neither, is served HTTP/1.1. All the suites
     * above are allowed for h2 (RFC 9113 9.2.2 forbids only non-AEAD and non-ephemeral ones).
     */
    public static SslContext server(Path certChain, Path key) throws IOException {
        try {
            return SslContextBuilder.forServer(certChain.toFile(), key.toFile())
                    .sslProvider(SslProvider.JDK)
                    .protocols(PROTOCOLS)
                    .ciphers(CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(
                            ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1))
                    .build();
        } catch (Exception e) {
            throw new IOException("loading TLS certificate " + certChain + " and key " + key + ": " + e.getMessage()
                    + "; give a PEM certificate chain and its PKCS#8 PEM key", e);
        }
    }
}
