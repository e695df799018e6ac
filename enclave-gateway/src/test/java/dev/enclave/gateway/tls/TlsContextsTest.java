package dev.enclave.gateway.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The gateway's TLS material and settings, against real handshakes. */
class TlsContextsTest {
    @TempDir
    static Path state;
    static SelfSignedCertificate cert;
    static EventLoopGroup group;
    static Channel server;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        cert = SelfSignedCertificate.ensure(state, List.of("gw.test"), List.of(InetAddress.getByName("127.0.0.1")));
        SslContext ctx = TlsContexts.server(cert.certFile(), cert.keyFile());
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ctx.newHandler(ch.alloc()), new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext c, Object msg) {
                                c.writeAndFlush(msg);
                            }
                        });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        port = ((InetSocketAddress) server.localAddress()).getPort();
    }

    @AfterAll
    static void stop() {
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    private static SSLSocket client(String protocol, String hostForSni) throws Exception {
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        ts.setCertificateEntry("gw", cert.certificate());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        java.net.Socket raw = new java.net.Socket();
        raw.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, hostForSni, port, true);
        s.setSoTimeout(5000);
        s.setEnabledProtocols(new String[] {protocol});
        SSLParameters p = s.getSSLParameters();
        p.setEndpointIdentificationAlgorithm("HTTPS"); // the client checks the name against the SANs
        s.setSSLParameters(p);
        return s;
    }

    @ParameterizedTest(name = "{0} handshakes and the certificate matches gw.test")
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void modernProtocolsHandshakeAndTheNameVerifies(String protocol) throws Exception {
        try (SSLSocket s = client(protocol, "gw.test")) {
            s.startHandshake();
            assertThat(s.getSession().getProtocol()).isEqualTo(protocol);
            assertThat(s.getSession().getCipherSuite()).matches("TLS_(AES|CHACHA20)_.*|TLS_ECDHE_ECDSA_WITH_.*_(GCM_SHA\\d+|POLY1305_SHA256)");
            s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(s.getInputStream().readNBytes(4), StandardCharsets.US_ASCII)).isEqualTo("ping");
        }
    }

    @ParameterizedTest(name = "ALPN offer [{0}] selects \"{1}\"")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
        "h2,http/1.1 | h2",
        "http/1.1,h2 | h2",
        "http/1.1    | http/1.1",
        "spdy/3      | ''",
        "''          | ''"})
    void alpnPrefersH2AndFallsBackToHttp11(String offer, String selected) throws Exception {
        try (SSLSocket s = client("TLSv1.3", "gw.test")) {
            SSLParameters p = s.getSSLParameters();
            p.setApplicationProtocols(offer.isEmpty() ? new String[0] : offer.split(","));
            s.setSSLParameters(p);
            s.startHandshake();
            // "" is "no ALPN agreed": the gateway then speaks HTTP/1.1.
            assertThat(s.getApplicationProtocol()).isEqualTo(selected);
        }
    }

    @Test
    void aNameNotInTheCertificateFailsVerification() throws Exception {
        try (SSLSocket s = client("TLSv1.3", "other.test")) {
            assertThatThrownBy(s::startHandshake).isInstanceOf(IOException.class);
        }
    }

    @ParameterizedTest(name = "openssl s_client {0} is refused")
    @ValueSource(strings = {
        "-tls1_1 -cipher DEFAULT@SECLEVEL=0",
        "-tls1 -cipher DEFAULT@SECLEVEL=0",
        "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA",
        "-tls1_2 -cipher AES128-GCM-SHA256",
        "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384"})
    void weakProtocolsAndCiphersAreNotOffered(String args) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
        List<String> cmd = new java.util.ArrayList<>(List.of("/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + port,
                "-servername", "gw.test"));
        cmd.addAll(List.of(args.split(" ")));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isNotZero();
        assertThat(out).contains("no peer certificate available").doesNotContain("Cipher is ECDHE");
    }

    @Test
    void opensslWithDefaultsNegotiatesTls13() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
        Process p = new ProcessBuilder("/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + port, "-servername", "gw.test",
                "-CAfile", cert.certFile().toString(), "-verify_hostname", "gw.test").redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
        assertThat(out).contains("TLSv1.3").contains("Verify return code: 0 (ok)");
    }

    @Test
    void theKeyIsOwnerOnlyAndTheCertificateIsReusedWhileItCoversTheNames() throws Exception {
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(cert.keyFile()))).isEqualTo("rw-------");
        SelfSignedCertificate again = SelfSignedCertificate.ensure(state, List.of("gw.test"), List.of(InetAddress.getByName("127.0.0.1")));
        assertThat(again.fingerprint()).isEqualTo(cert.fingerprint()).matches("([0-9A-F]{2}:){31}[0-9A-F]{2}");
        SelfSignedCertificate renamed = SelfSignedCertificate.ensure(state.resolve("other"), List.of("gw.test", "gw2.test"),
                List.of(InetAddress.getByName("127.0.0.1")));
        assertThat(renamed.fingerprint()).isNotEqualTo(cert.fingerprint());
        assertThat(renamed.certificate().getSubjectAlternativeNames()).extracting(l -> l.get(1).toString())
                .containsExactly("gw.test", "gw2.test", "127.0.0.1");
    }

    @Test
    void aBrokenKeyFileIsAOneLineErrorNamingTheFix() throws Exception {
        Path bad = Files.writeString(state.resolve("bad-key.pem"), "not a key");
        assertThatThrownBy(() -> TlsContexts.server(cert.certFile(), bad)).isInstanceOf(IOException.class)
                .hasMessageContaining("PKCS#8 PEM key");
    }
}
