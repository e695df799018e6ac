package dev.enclave.gateway.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.gateway.testing.AnyCertificateClient;
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
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Certificate reload against real TLS handshakes: what a new client is served, before and after. */
class ReloadingTlsContextTest {
    @TempDir
    Path dir;
    private Path cert;
    private Path key;
    private TestPairs.Pair first;
    private ReloadingTlsContext tls;
    private EventLoopGroup group;
    private Channel server;

    @BeforeEach
    void start() throws Exception {
        first = TestPairs.valid(dir.resolve("first"));
        cert = dir.resolve("live/cert.pem");
        key = dir.resolve("live/key.pem");
        install(first);
        tls = ReloadingTlsContext.open(cert, key);
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(tls.get().newHandler(ch.alloc()), new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext c, Object msg) {
                                c.writeAndFlush(msg);
                            }
                        });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    @AfterEach
    void stop() {
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    @Test
    void aReplacedPairIsServedToNewHandshakesWhileAnOpenConnectionKeepsWorking() throws Exception {
        try (SSLSocket open = handshake()) {
            assertThat(served(open)).isEqualTo(fingerprint(first));
            TestPairs.Pair second = TestPairs.valid(dir.resolve("second"));
            install(second);

            ReloadingTlsContext.Outcome o = tls.reload();

            assertThat(o.refused()).isFalse();
            assertThat(o.loaded().fingerprint()).isEqualTo(fingerprint(second));
            try (SSLSocket fresh = handshake()) {
                assertThat(served(fresh)).isEqualTo(fingerprint(second)).isNotEqualTo(fingerprint(first));
                assertThat(((X509Certificate) fresh.getSession().getPeerCertificates()[0]).getSerialNumber())
                        .isEqualTo(second.certificate().getSerialNumber());
            }
            assertThat(echo(open, "still here")).isEqualTo("still here");
        }
    }

    @Test
    void anRsaPairReplacesAnEcPair() throws Exception {
        TestPairs.Pair rsa = TestPairs.write(dir.resolve("rsa"), "RSA", Instant.now().minusSeconds(60), Instant.now().plus(Duration.ofDays(30)));
        install(rsa);
        assertThat(tls.reload().refused()).isFalse();
        try (SSLSocket s = handshake()) {
            assertThat(served(s)).isEqualTo(fingerprint(rsa));
        }
    }

    @Test
    void aFileChangeIsTakenOnceBothFilesHaveSettled() throws Exception {
        assertThat(tls.reloadIfChanged()).as("nothing changed").isNull();
        TestPairs.Pair second = TestPairs.valid(dir.resolve("second"));
        install(second);

        assertThat(tls.reloadIfChanged()).as("first look after the change: maybe still being written").isNull();
        ReloadingTlsContext.Outcome o = tls.reloadIfChanged();

        assertThat(o).isNotNull();
        assertThat(o.refused()).isFalse();
        assertThat(tls.reloadIfChanged()).as("taken; nothing new since").isNull();
        try (SSLSocket s = handshake()) {
            assertThat(served(s)).isEqualTo(fingerprint(second));
        }
    }

    @ParameterizedTest(name = "{0}: refused, named with its fix, and the old certificate is still served")
    @ValueSource(strings = {
        "a key that belongs to another certificate|key.pem is not the key of the certificate in|issued together",
        "a key file that is not a key|key.pem: no PEM private key in it|unencrypted PEM",
        "a certificate file that is not a certificate|cert.pem: not a PEM certificate chain|in PEM form",
        "an empty certificate file|cert.pem: no certificate in it|in PEM form",
        "a certificate file with a broken certificate|cert.pem: not a PEM certificate chain|in PEM form",
        "an expired certificate|cert.pem: the certificate expired on|install a renewed certificate",
        "a certificate that is not valid yet|cert.pem: the certificate is not valid before|check the system clock",
        "a missing key file|key.pem: cannot read|check the path"})
    void aBadNewPairKeepsTheOldOne(String spec) throws Exception {
        String[] p = spec.split("\\|");
        switch (p[0]) {
            case "a key that belongs to another certificate" -> {
                TestPairs.Pair other = TestPairs.valid(dir.resolve("other"));
                Files.copy(other.cert(), cert, StandardCopyOption.REPLACE_EXISTING); // new certificate, old key
            }
            case "a key file that is not a key" -> Files.writeString(key, "not a key\n");
            case "a certificate file that is not a certificate" -> Files.writeString(cert, "hello\n");
            case "an empty certificate file" -> Files.writeString(cert, "");
            case "a certificate file with a broken certificate" ->
                    Files.writeString(cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
            case "an expired certificate" -> install(TestPairs.write(dir.resolve("old"), "EC",
                    Instant.now().minus(Duration.ofDays(400)), Instant.now().minus(Duration.ofDays(1))));
            case "a certificate that is not valid yet" -> install(TestPairs.write(dir.resolve("later"), "EC",
                    Instant.now().plus(Duration.ofDays(1)), Instant.now().plus(Duration.ofDays(400))));
            case "a missing key file" -> Files.delete(key);
            default -> throw new IllegalArgumentException(p[0]);
        }

        ReloadingTlsContext.Outcome o = tls.reload();

        assertThat(o.refused()).isTrue();
        assertThat(o.problem()).contains(p[1]).contains(p[2]).doesNotContain("\n");
        assertThat(o.loaded().fingerprint()).isEqualTo(fingerprint(first));
        try (SSLSocket s = handshake()) {
            assertThat(served(s)).isEqualTo(fingerprint(first));
        }
    }

    @Test
    void aRefusedPairIsReportedOnceAndAGoodOneAfterItIsTaken() throws Exception {
        Files.copy(TestPairs.valid(dir.resolve("other")).cert(), cert, StandardCopyOption.REPLACE_EXISTING);
        tls.reloadIfChanged();
        ReloadingTlsContext.Outcome refused = tls.reloadIfChanged();
        assertThat(refused.refused()).isTrue();
        assertThat(tls.reloadIfChanged()).as("the same bad files are not reported again").isNull();

        TestPairs.Pair fixed = TestPairs.valid(dir.resolve("fixed"));
        install(fixed);
        tls.reloadIfChanged();
        assertThat(tls.reloadIfChanged().refused()).isFalse();
        try (SSLSocket s = handshake()) {
            assertThat(served(s)).isEqualTo(fingerprint(fixed));
        }
    }

    @Test
    void theGatewayDoesNotStartWithAKeyThatIsNotTheCertificates() throws Exception {
        TestPairs.Pair other = TestPairs.valid(dir.resolve("other"));
        assertThatThrownBy(() -> ReloadingTlsContext.open(other.cert(), first.key())).isInstanceOf(IOException.class)
                .hasMessageContaining("is not the key of the certificate in " + other.cert());
    }

    private void install(TestPairs.Pair pair) throws IOException {
        Files.createDirectories(cert.getParent());
        Files.copy(pair.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(pair.key(), key, StandardCopyOption.REPLACE_EXISTING);
    }

    private static String fingerprint(TestPairs.Pair pair) {
        return SelfSignedCertificate.fingerprint(pair.certificate());
    }

    private static String served(SSLSocket s) throws Exception {
        return SelfSignedCertificate.fingerprint((X509Certificate) s.getSession().getPeerCertificates()[0]);
    }

    private static String echo(SSLSocket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        return new String(s.getInputStream().readNBytes(text.length()), StandardCharsets.US_ASCII);
    }

    /** A TLS client that accepts any certificate, so the test can look at which one it was given. */
    private SSLSocket handshake() throws Exception {
        return AnyCertificateClient.handshake(((InetSocketAddress) server.localAddress()).getPort(), 5000);
    }
}
