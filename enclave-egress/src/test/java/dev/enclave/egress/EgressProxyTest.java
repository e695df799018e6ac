package dev.enclave.egress;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The egress proxy against real sockets and real TLS, one test per class of request in
 * {@code shared/egress-cases.md} (numbers in the display names). The allowlist is
 * {@code api.llm.test:443} and {@code *.models.test:443}; both names are pinned to a fake
 * OpenAI-style API on loopback, and only that server's address is opened by {@code allow_cidr}.
 */
class EgressProxyTest {
    @TempDir
    static Path tmp;
    static TestPki pki;
    static FakeLlmApi llm;
    static EchoServer echo;
    static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        pki = TestPki.forNames("api.llm.test", "eu.models.test");
        llm = new FakeLlmApi(pki, "127.0.0.1");
        echo = new EchoServer("127.0.0.1");
        proxy = ProxyFixture.builder()
                .allow("api.llm.test:443", "*.models.test:443", "echo.test:7")
                .pin("api.llm.test:443=127.0.0.1:" + llm.port())
                .pin("eu.models.test:443=127.0.0.1:" + llm.port())
                .pin("echo.test:7=127.0.0.1:" + echo.port())
                .allowCidr("127.0.0.1/32")
                .start(tmp);
    }

    @AfterAll
    static void stop() throws IOException {
        proxy.close();
        llm.close();
        echo.close();
    }

    /** CONNECT through the proxy, TLS with {@code sni}, one GET; returns the HTTP response text. */
    static String getOverTunnel(InetSocketAddress proxyAddress, String connectTarget, String sni, String path)
            throws IOException {
        try (RawClient c = new RawClient(proxyAddress)) {
            c.send("CONNECT " + connectTarget + " HTTP/1.1\r\nHost: " + connectTarget + "\r\n\r\n");
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).as(r.head()).isEqualTo(200);
            SSLSocket tls = (SSLSocket) pki.clientContext().getSocketFactory()
                    .createSocket(c.socket(), sni, 443, true);
            SSLParameters params = tls.getSSLParameters();
            params.setServerNames(List.of(new SNIHostName(sni)));
            tls.setSSLParameters(params);
            tls.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + sni + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            tls.getOutputStream().flush();
            InputStream in = tls.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static void assertRefused(String authority, int status, String reason) throws Exception {
        RawClient.Response r = RawClient.connect(proxy.address(), authority);
        assertThat(r.status()).as("status for CONNECT " + authority).isEqualTo(status);
        assertThat(r.reason()).as("reason for CONNECT " + authority).isEqualTo(reason);
        assertThat(r.body()).contains(reason);
    }

    static void assertRawRefused(String request, int status, String reason) throws Exception {
        try (RawClient c = new RawClient(proxy.address())) {
            c.send(request);
            RawClient.Response r = c.readResponse();
            assertThat(r.status()).as("status for " + request.replace("\r\n", "\\r\\n")).isEqualTo(status);
            assertThat(r.reason()).as("reason for " + request.replace("\r\n", "\\r\\n")).isEqualTo(reason);
            assertThat(c.drain(3000).closed()).as("connection closed after refusal").isTrue();
        }
    }

    @Nested
    class AllowedPath {
        @Test
        void case01AllowedNameTunnelsTlsToTheApi() throws Exception {
            String response = getOverTunnel(proxy.address(), "api.llm.test:443", "api.llm.test", "/v1/models");
            assertThat(response).startsWith("HTTP/1.1 200").contains("gpt-test");
            JsonNode line = proxy.lastDecision();
            assertThat(line.path("decision").asText()).isEqualTo("allow");
            assertThat(line.path("rule").asText()).contains("api.llm.test:443");
            assertThat(line.path("sni").asText()).isEqualTo("api.llm.test");
            assertThat(line.path("resolved").asText()).isEqualTo("127.0.0.1:" + llm.port());
            assertThat(line.path("bytes_up").asLong()).isPositive();
            assertThat(line.path("bytes_down").asLong()).isPositive();
        }

        @Test
        void case02UpperCaseAndTrailingDotAreTheSameName() throws Exception {
            String response = getOverTunnel(proxy.address(), "API.LLM.Test.:443", "api.llm.test", "/v1/models");
            assertThat(response).startsWith("HTTP/1.1 200").contains("gpt-test");
        }

        @Test
        void case03WildcardAllowsSubdomain() throws Exception {
            String response = getOverTunnel(proxy.address(), "eu.models.test:443", "eu.models.test", "/v1/models");
            assertThat(response).startsWith("HTTP/1.1 200");
        }

        @Test
        void case31BytesAfterTheTunnelOpensAreForwardedNeverParsed() throws Exception {
            try (RawClient c = new RawClient(proxy.address())) {
                String inner = "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test\r\n\r\n";
                // The second CONNECT is sent in the same packet as the first: it must still be opaque.
                c.send("CONNECT echo.test:7 HTTP/1.1\r\nHost: echo.test:7\r\n\r\n" + inner);
                assertThat(c.readResponse().status()).isEqualTo(200);
                assertThat(new String(c.readExactly(inner.length()), StandardCharsets.US_ASCII)).isEqualTo(inner);
            }
        }
    }

    @Nested
    class NameRules {
        @Test
        void case04WildcardDoesNotMatchApex() throws Exception {
            assertRefused("models.test:443", 403, "host_not_allowed");
        }

        @Test
        void case05NameNotListedIsRefused() throws Exception {
            assertRefused("example.test:443", 403, "host_not_allowed");
        }

        @Test
        void case06SuffixTrickIsRefused() throws Exception {
            assertRefused("api.llm.test.evil.test:443", 403, "host_not_allowed");
        }

        @Test
        void case07PrefixTrickIsRefused() throws Exception {
            assertRefused("evilapi.llm.test:443", 403, "host_not_allowed");
        }

        @Test
        void case08AllowedNameOnAnotherPortIsRefused() throws Exception {
            assertRefused("api.llm.test:22", 403, "port_not_allowed");
        }

        @Test
        void case26IdnLookalikeIsComparedAsPunycode() throws Exception {
            assertRefused("\u0430pi.llm.test:443", 403, "host_not_allowed");
            assertThat(proxy.lastDecision().path("detail").asText()).startsWith("xn--");
        }
    }

    @Nested
    class IpLiterals {
        @Test
        void case09Ipv4LiteralIsRefused() throws Exception {
            assertRefused("127.0.0.1:443", 403, "ip_literal");
        }

        @ParameterizedTest(name = "case 10: IPv4 spelled {0} is an IP literal")
        @ValueSource(strings = {"2130706433:443", "0x7f000001:443", "0177.0.0.1:443", "127.1:443", "0x7f.1:443",
                "127.0.0.1.:443", "\uff11\uff12\uff17.0.0.1:443"})
        void case10OtherIpv4SpellingsAreRefused(String authority) throws Exception {
            assertRefused(authority, 403, "ip_literal");
        }

        @ParameterizedTest(name = "case 11: IPv6 literal {0} is refused")
        @ValueSource(strings = {"[::1]:443", "[::ffff:127.0.0.1]:443", "[fe80::1%25eth0]:443", "[::]:443"})
        void case11Ipv6LiteralsAreRefused(String authority) throws Exception {
            assertRefused(authority, 403, "ip_literal");
        }

        @ParameterizedTest(name = "case 27: reserved or embedding literal {0} is refused")
        @ValueSource(strings = {"0.0.0.0:443", "240.0.0.1:443", "198.18.0.1:443", "192.0.0.1:443", "100.64.0.1:443",
                "[64:ff9b::7f00:1]:443", "[64:ff9b:1::a00:1]:443", "[2002:7f00:1::]:443", "[2001::1]:443"})
        void case27ReservedAndEmbeddedLiteralsAreRefused(String authority) throws Exception {
            assertRefused(authority, 403, "ip_literal");
        }

        @ParameterizedTest(name = "case 12: metadata address {0} is refused")
        @ValueSource(strings = {"169.254.169.254:80", "[fd00:ec2::254]:80"})
        void case12MetadataLiteralsAreRefused(String authority) throws Exception {
            assertRefused(authority, 403, "ip_literal");
        }
    }

    @Nested
    class RequestSyntax {
        @Test
        void case16UserinfoIsRefused() throws Exception {
            assertRefused("api.llm.test@evil.test:443", 400, "malformed_host");
        }

        @ParameterizedTest(name = "case 17: junk host {0} is refused as malformed")
        @ValueSource(strings = {"api%2ellm.test:443", "api..llm.test:443", ".api.llm.test:443", "api.llm.test..:443",
                "api_llm.test:443", "-api.llm.test:443"})
        void case17EscapesAndJunkAreRefused(String authority) throws Exception {
            assertRefused(authority, 400, "malformed_host");
        }

        @Test
        void case17OverlongNameAndLabelAreRefused() throws Exception {
            assertRefused("a".repeat(64) + ".llm.test:443", 400, "malformed_host");
            assertRefused(("a".repeat(60) + ".").repeat(4) + "llm.test:443", 403, "host_not_allowed"); // 252 chars: a valid name
            assertRefused(("a".repeat(60) + ".").repeat(5) + "llm.test:443", 400, "malformed_host"); // 313 chars
        }

        @Test
        void case17SpaceInsideTheTargetIsRefused() throws Exception {
            assertRawRefused("CONNECT api.llm .test:443 HTTP/1.1\r\n\r\n", 400, "bad_request");
        }

        @ParameterizedTest(name = "case 22: CONNECT target {0} has no usable port")
        @ValueSource(strings = {"api.llm.test", "api.llm.test:0", "api.llm.test:65536", "api.llm.test:"})
        void case22MissingOrOutOfRangePortIsRefused(String authority) throws Exception {
            assertRefused(authority, 400, "malformed_host");
        }

        @ParameterizedTest(name = "case 29: port spelled {0} is refused")
        @ValueSource(strings = {"api.llm.test:0443", "api.llm.test:+443", "api.llm.test:443abc", "api.llm.test:4 43"})
        void case29OddPortSpellingsAreRefused(String authority) throws Exception {
            if (authority.contains(" ")) {
                assertRawRefused("CONNECT " + authority + " HTTP/1.1\r\n\r\n", 400, "bad_request");
            } else {
                assertRefused(authority, 400, "malformed_host");
            }
        }

        @ParameterizedTest(name = "case 30: request line {0} is refused")
        @ValueSource(strings = {
            "connect api.llm.test:443 HTTP/1.1\r\n\r\n",
            "CONNECT  api.llm.test:443 HTTP/1.1\r\n\r\n",
            "CONNECT api.llm.test:443  HTTP/1.1\r\n\r\n",
            "CONNECT api.llm.test:443\r\n\r\n",
            "GET /\r\n\r\n",
            "CONNECT api.llm.test:443 HTTP/2.0\r\n\r\n",
            "CONNECT api.llm.test:443 HTTP/1.1\n\n",
            "\r\nCONNECT api.llm.test:443 HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: api.llm.test\r\n\r\n"})
        void case30OddRequestLinesAreRefused(String request) throws Exception {
            assertRawRefused(request, 400, "bad_request");
        }

        @Test
        void case30UnknownUpperCaseMethodIsNotAllowed() throws Exception {
            assertRawRefused("BREW api.llm.test:443 HTTP/1.1\r\n\r\n", 405, "method_not_allowed");
        }

        @Test
        void case23OversizedHeadIsRefusedAndClosed() throws Exception {
            StringBuilder big = new StringBuilder("CONNECT api.llm.test:443 HTTP/1.1\r\n");
            while (big.length() < 64 * 1024) {
                big.append("X-Filler: ").append("a".repeat(1000)).append("\r\n");
            }
            big.append("\r\n");
            assertRawRefused(big.toString(), 431, "head_too_large");
        }
    }

    @Nested
    class PlainHttp {
        @Test
        void plainHttpToAnAllowedPort80NameIsForwardedInOriginForm(@TempDir Path dir) throws Exception {
            com.sun.net.httpserver.HttpServer origin = com.sun.net.httpserver.HttpServer.create(
                    new InetSocketAddress("127.0.0.1", 0), 8);
            java.util.concurrent.atomic.AtomicReference<String> seen = new java.util.concurrent.atomic.AtomicReference<>();
            origin.createContext("/", ex -> {
                seen.set(ex.getRequestMethod() + " " + ex.getRequestURI() + " host=" + ex.getRequestHeaders().getFirst("Host")
                        + " proxy-auth=" + ex.getRequestHeaders().getFirst("Proxy-Authorization")
                        + " body=" + new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
                byte[] body = "origin says hi".getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(200, body.length);
                ex.getResponseBody().write(body);
                ex.close();
            });
            origin.start();
            try (ProxyFixture http = ProxyFixture.builder()
                    .allow("plain.test:80")
                    .pin("plain.test:80=127.0.0.1:" + origin.getAddress().getPort())
                    .allowCidr("127.0.0.1/32")
                    .start(dir);
                 RawClient c = new RawClient(http.address())) {
                c.send("POST http://plain.test/path?q=1 HTTP/1.1\r\nHost: plain.test\r\nProxy-Authorization: Basic eDp5\r\n"
                        + "Proxy-Connection: keep-alive\r\nContent-Length: 5\r\n\r\nhello");
                RawClient.Response r = c.readResponse();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.body()).isEqualTo("origin says hi");
                assertThat(seen.get()).isEqualTo("POST /path?q=1 host=plain.test proxy-auth=null body=hello");
                JsonNode line = http.lastDecision();
                assertThat(line.path("event").asText()).isEqualTo("request");
                assertThat(line.path("decision").asText()).isEqualTo("allow");
            } finally {
                origin.stop(0);
            }
        }

        @Test
        void traceIsNotForwarded() throws Exception {
            assertRawRefused("TRACE http://api.llm.test/ HTTP/1.1\r\nHost: api.llm.test\r\n\r\n", 405, "method_not_allowed");
        }

        @Test
        void case20PlainHttpToUnlistedHostIsRefused() throws Exception {
            assertRawRefused("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n", 403, "host_not_allowed");
        }

        @Test
        void case21HostHeaderDisagreeingWithUriIsRefused() throws Exception {
            assertRawRefused("GET http://api.llm.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400, "host_header_mismatch");
        }

        @Test
        void case32DuplicateHostHeaderIsRefused() throws Exception {
            assertRawRefused("GET http://api.llm.test/ HTTP/1.1\r\nHost: api.llm.test\r\nHost: evil.test\r\n\r\n",
                    400, "bad_request");
        }

        @Test
        void case32ObsFoldedHostIsRefused() throws Exception {
            assertRawRefused("GET http://api.llm.test/ HTTP/1.1\r\nHost:\r\n api.llm.test\r\n\r\n", 400, "bad_request");
        }

        @Test
        void httpsInAbsoluteFormIsRefused() throws Exception {
            assertRawRefused("GET https://api.llm.test/ HTTP/1.1\r\nHost: api.llm.test\r\n\r\n", 400, "bad_request");
        }

        @Test
        void ambiguousBodyLengthIsRefused() throws Exception {
            assertRawRefused("POST http://api.llm.test/ HTTP/1.1\r\nHost: api.llm.test\r\nContent-Length: 3\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n", 400, "bad_request");
        }
    }

    @Test
    void everyDecisionIsAuditedWithClientTargetAndReason() throws Exception {
        assertRefused("audited.example.test:443", 403, "host_not_allowed");
        JsonNode line = proxy.lastDecision();
        assertThat(line.path("component").asText()).isEqualTo("egress");
        assertThat(line.path("target").asText()).isEqualTo("audited.example.test:443");
        assertThat(line.path("decision").asText()).isEqualTo("deny");
        assertThat(line.path("reason").asText()).isEqualTo("host_not_allowed");
        assertThat(line.path("client").asText()).startsWith("127.0.0.1:");
        assertThat(line.has("time")).isTrue();
        assertThat(line.has("duration_ms")).isTrue();
    }
}
