package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gateway end to end: real TLS, real HTTP and WebSocket clients, a real app behind it. */
class GatewayServerTest {
    private static final String PASS = "a long passphrase";
    @TempDir
    Path state;
    private HttpServer app;
    private final AtomicInteger appRequests = new AtomicInteger();
    private final AtomicReference<String> seen = new AtomicReference<>();
    private final AtomicLong uploaded = new AtomicLong();
    private EventLoopGroup wsLoop;
    private Channel wsServer;
    private GatewayServer gateway;
    private AuditLog audit;
    private InetSocketAddress address;

    @BeforeEach
    void start() throws Exception {
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            appRequests.incrementAndGet();
            long n = ex.getRequestBody().transferTo(java.io.OutputStream.nullOutputStream());
            uploaded.set(n);
            seen.set("path=" + ex.getRequestURI() + " user=" + ex.getRequestHeaders().getFirst("X-Forwarded-User")
                    + " xff=" + ex.getRequestHeaders().get("X-Forwarded-For") + " proto=" + ex.getRequestHeaders().getFirst("X-Forwarded-Proto")
                    + " auth=" + ex.getRequestHeaders().getFirst("Authorization"));
            byte[] body = "hello from the app".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.start();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = startGateway(app.getAddress().getPort());
    }

    private GatewayServer startGateway(int upstreamPort) throws Exception {
        GatewayServer g = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0),
                new InetSocketAddress("127.0.0.1", 0), URI.create("http://127.0.0.1:" + upstreamPort), state.resolve("users"),
                state, null, null, List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 3, Duration.ofMinutes(10),
                Duration.ofHours(1)), audit);
        address = g.start();
        return g;
    }

    @AfterEach
    void stop() {
        gateway.close();
        app.stop(0);
        if (wsServer != null) {
            wsServer.close();
            wsLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        audit.close();
    }

    /** HTTP/1.1 on purpose: this class specifies the HTTP/1.1 gateway; GatewayHttp2Test the h2 one. */
    private HttpClient client() throws Exception {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(GatewayTrust.context(state))
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    private URI url(String path) {
        return URI.create("https://127.0.0.1:" + address.getPort() + path);
    }

    private static String basic(String user, String pass) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void withoutCredentialsTheAnswerIs401WithAChallengeAndSecurityHeaders() throws Exception {
        HttpResponse<String> r = client().send(HttpRequest.newBuilder(url("/")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("WWW-Authenticate")).contains("Basic realm=\"Enclave\", charset=\"UTF-8\"");
        assertThat(r.headers().firstValue("Strict-Transport-Security")).isPresent();
        assertThat(r.headers().firstValue("X-Content-Type-Options")).contains("nosniff");
        assertThat(r.headers().firstValue("Content-Security-Policy")).contains("frame-ancestors 'none'");
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void validCredentialsReachTheAppWithTrustedForwardedHeadersAndWithoutTheCredentials() throws Exception {
        HttpResponse<String> r = client().send(HttpRequest.newBuilder(url("/v1/thing?q=1"))
                .header("Authorization", basic("alice", PASS))
                .header("X-Forwarded-For", "6.6.6.6")
                .header("X-Forwarded-User", "admin")
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("hello from the app");
        assertThat(r.headers().firstValue("Strict-Transport-Security")).isPresent();
        assertThat(seen.get()).isEqualTo("path=/v1/thing?q=1 user=alice xff=[127.0.0.1] proto=https auth=null");
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"event\":\"access\"").contains("\"user\":\"alice\"")
                .contains("\"status\":200");
    }

    @Test
    void aLargeUploadStreamsThroughToTheApp() throws Exception {
        byte[] body = new byte[8 * 1024 * 1024];
        HttpResponse<String> r = client().send(HttpRequest.newBuilder(url("/upload"))
                .header("Authorization", basic("alice", PASS))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(uploaded.get()).isEqualTo(body.length);
    }

    @Test
    void wrongPasswordsBanTheSourceAndTheBanSurvivesARestart() throws Exception {
        HttpClient c = client();
        for (int i = 0; i < 2; i++) {
            assertThat(c.send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", "wrong-password-" + i)).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
        }
        HttpResponse<String> third = c.send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", "wrong-3-xxxxxx")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(third.statusCode()).isEqualTo(403);
        assertThat(third.body()).contains("too many failed logins");
        // From now on the source is dropped before TLS, even with the right password.
        assertThatThrownBy(() -> client().send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", PASS)).build(),
                HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);
        gateway.close();
        gateway = startGateway(app.getAddress().getPort());
        assertThatThrownBy(() -> client().send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", PASS)).build(),
                HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void smugglingShapedRequestsAreRefusedAndNeverReachTheApp() throws Exception {
        String auth = basic("alice", PASS);
        String[] requests = {
            "POST / HTTP/1.1\r\nHost: gw\r\nAuthorization: " + auth + "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: gw\r\nAuthorization: " + auth + "\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "POST / HTTP/1.1\r\nHost: gw\r\nAuthorization: " + auth + "\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "GET / HTTP/1.1\nHost: gw\nAuthorization: " + auth + "\n\n",
            "GET / HTTP/1.1\r\nHost: gw\r\nHost: other\r\nAuthorization: " + auth + "\r\n\r\n",
            "GET http://elsewhere.test/ HTTP/1.1\r\nHost: gw\r\nAuthorization: " + auth + "\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: gw\r\nAuthorization: " + auth + "\r\nX-Big: " + "a".repeat(20_000) + "\r\n\r\n"};
        for (String req : requests) {
            try (SSLSocket s = GatewayTrust.socket(state, address.getPort(), 5000)) {
                s.getOutputStream().write(req.getBytes(StandardCharsets.ISO_8859_1));
                String head = new String(s.getInputStream().readNBytes(12), StandardCharsets.ISO_8859_1);
                assertThat(head).as(req.substring(0, Math.min(60, req.length()))).matches("HTTP/1\\.1 (400|431)");
            }
        }
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void aPipelinedRequestWithoutCredentialsIsNotCarriedInByTheOneBeforeIt() throws Exception {
        String both = "GET /first HTTP/1.1\r\nHost: gw\r\nAuthorization: " + basic("alice", PASS) + "\r\n\r\n"
                + "GET /second HTTP/1.1\r\nHost: gw\r\n\r\n";
        java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
        try (SSLSocket s = GatewayTrust.socket(state, address.getPort(), 3000)) {
            s.getOutputStream().write(both.getBytes(StandardCharsets.ISO_8859_1));
            s.getInputStream().transferTo(got);
        } catch (java.net.SocketTimeoutException | java.net.SocketException stopped) {
            // read until the gateway closes (after its 401) or goes quiet
        }
        assertThat(got.toString(StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200").contains("HTTP/1.1 401");
        assertThat(appRequests.get()).isEqualTo(1);
        assertThat(seen.get()).startsWith("path=/first ");
    }

    @Test
    void aConnectionHeaderCannotStripTheBodyFramingToSmuggleARequest() throws Exception {
        String smuggled = "GET /smuggled HTTP/1.1\r\nHost: gw\r\n\r\n";
        for (String framing : new String[] {"Content-Length: " + smuggled.length(), "Transfer-Encoding: chunked"}) {
            appRequests.set(0);
            String body = framing.startsWith("Content") ? smuggled
                    : Integer.toHexString(smuggled.length()) + "\r\n" + smuggled + "\r\n0\r\n\r\n";
            String req = "POST /upload HTTP/1.1\r\nHost: gw\r\nAuthorization: " + basic("alice", PASS) + "\r\n"
                    + framing + "\r\nConnection: close, " + framing.substring(0, framing.indexOf(':')) + "\r\n\r\n" + body;
            try (SSLSocket s = GatewayTrust.socket(state, address.getPort(), 5000)) {
                s.getOutputStream().write(req.getBytes(StandardCharsets.ISO_8859_1));
                assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200");
            }
            Thread.sleep(200);
            assertThat(appRequests.get()).as(framing).isEqualTo(1);
            assertThat(seen.get()).as(framing).startsWith("path=/upload ");
            assertThat(uploaded.get()).as(framing).isEqualTo(smuggled.length());
        }
    }

    @Test
    void pipelinedAuthenticatedRequestsAreAnsweredInOrder() throws Exception {
        String auth = "Authorization: " + basic("alice", PASS) + "\r\n";
        String three = "GET /a HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n"
                + "GET /b HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n"
                + "GET /c HTTP/1.1\r\nHost: gw\r\n" + auth + "Connection: close\r\n\r\n";
        String got;
        try (SSLSocket s = GatewayTrust.socket(state, address.getPort(), 5000)) {
            s.getOutputStream().write(three.getBytes(StandardCharsets.ISO_8859_1));
            got = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
        assertThat(got.split("HTTP/1\\.[01] 200", -1)).hasSize(4);
        assertThat(appRequests.get()).isEqualTo(3);
        assertThat(seen.get()).startsWith("path=/c ");
    }

    @Test
    void anAppThatIsDownGets502AndIsUsedAgainWhenItIsBack() throws Exception {
        int port = app.getAddress().getPort();
        app.stop(0);
        HttpResponse<String> r = client().send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", PASS)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(502);
        assertThat(r.body()).contains("the app is not answering");
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 16);
        app.createContext("/", ex -> {
            ex.sendResponseHeaders(204, -1);
            ex.close();
        });
        app.start();
        assertThat(client().send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", PASS)).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(204);
    }

    /** An app that echoes WebSocket text frames on /socket.io/ as "echo:" + text; returns its port. */
    private int startWebSocketApp() throws Exception {
        wsLoop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        wsServer = new ServerBootstrap().group(wsLoop).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(65536),
                                new WebSocketServerProtocolHandler("/socket.io/"),
                                new SimpleChannelInboundHandler<TextWebSocketFrame>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, TextWebSocketFrame f) {
                                        ctx.writeAndFlush(new TextWebSocketFrame("echo:" + f.text()));
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        return ((InetSocketAddress) wsServer.localAddress()).getPort();
    }

    /** A WebSocket listener that puts every text message it receives into {@code got}. */
    private static WebSocket.Listener collectingInto(java.util.concurrent.BlockingQueue<String> got) {
        return new WebSocket.Listener() {
            @Override
            public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                got.add(data.toString());
                w.request(1);
                return CompletableFuture.completedFuture(null);
            }
        };
    }

    @Test
    void aWebSocketPassesThroughAndOutlivesTheSeeds60SecondCut() throws Exception {
        int wsPort = startWebSocketApp();
        gateway.close();
        gateway = startGateway(wsPort);

        java.util.concurrent.LinkedBlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
        WebSocket ws = client().newWebSocketBuilder().header("Authorization", basic("alice", PASS))
                .buildAsync(URI.create("wss://127.0.0.1:" + address.getPort() + "/socket.io/"), collectingInto(got)).get(10, TimeUnit.SECONDS);
        ws.sendText("one", true).get(5, TimeUnit.SECONDS);
        assertThat(got.poll(5, TimeUnit.SECONDS)).isEqualTo("echo:one");
        // The product's idle limit is 1 h (30 s here); a quiet socket stays open past a short pause.
        Thread.sleep(2000);
        ws.sendText("two", true).get(5, TimeUnit.SECONDS);
        assertThat(got.poll(5, TimeUnit.SECONDS)).isEqualTo("echo:two");
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
    }

    /** Cross-site WebSocket hijacking: a page of another site opening a socket with the user's credentials. */
    @Test
    void aWebSocketOpenedByAnotherSitesPageIsRefusedAndTheSameSitesIsNot() throws Exception {
        int wsPort = startWebSocketApp();
        gateway.close();
        gateway = startGateway(wsPort);
        URI socket = URI.create("wss://127.0.0.1:" + address.getPort() + "/socket.io/");

        CompletableFuture<WebSocket> foreign = client().newWebSocketBuilder().header("Authorization", basic("alice", PASS))
                .header("Origin", "https://attacker.example").buildAsync(socket, new WebSocket.Listener() { });
        assertThatThrownBy(() -> foreign.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(java.net.http.WebSocketHandshakeException.class)
                .satisfies(e -> assertThat(((java.net.http.WebSocketHandshakeException) e.getCause()).getResponse().statusCode())
                        .isEqualTo(403));

        java.util.concurrent.LinkedBlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
        WebSocket own = client().newWebSocketBuilder().header("Authorization", basic("alice", PASS))
                .header("Origin", "https://127.0.0.1:" + address.getPort()).buildAsync(socket, collectingInto(got)).get(10, TimeUnit.SECONDS);
        own.sendText("same-site", true).get(5, TimeUnit.SECONDS);
        assertThat(got.poll(5, TimeUnit.SECONDS)).isEqualTo("echo:same-site");
        own.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
    }

    @Test
    void aWebSocketOpenedWithBasicCredentialsEndsWhenThePasswordIsChanged() throws Exception {
        int wsPort = startWebSocketApp();
        gateway.close();
        Duration recheck = Duration.ofMillis(200);
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0),
                new InetSocketAddress("127.0.0.1", 0), URI.create("http://127.0.0.1:" + wsPort), state.resolve("users"),
                state, null, null, List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 3, Duration.ofMinutes(10),
                Duration.ofHours(1)).withSessionRecheck(recheck), audit);
        address = gateway.start();

        java.util.concurrent.LinkedBlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
        CompletableFuture<Integer> closed = new CompletableFuture<>();
        WebSocket ws = client().newWebSocketBuilder().header("Authorization", basic("alice", PASS))
                .buildAsync(URI.create("wss://127.0.0.1:" + address.getPort() + "/socket.io/"), new WebSocket.Listener() {
                    @Override
                    public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                        got.add(data.toString());
                        w.request(1);
                        return CompletableFuture.completedFuture(null);
                    }

                    @Override
                    public CompletionStage<?> onClose(WebSocket w, int status, String reason) {
                        closed.complete(status);
                        return null;
                    }

                    @Override
                    public void onError(WebSocket w, Throwable error) {
                        closed.complete(-1); // the gateway closes the TCP connection without a close frame
                    }
                }).get(10, TimeUnit.SECONDS);
        // Unchanged credentials: several checks pass and the socket keeps working.
        Thread.sleep(5 * recheck.toMillis());
        ws.sendText("before", true).get(5, TimeUnit.SECONDS);
        assertThat(got.poll(5, TimeUnit.SECONDS)).isEqualTo("echo:before");
        assertThat(closed).isNotDone();

        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash("a-new-password".toCharArray())));

        closed.get(10, TimeUnit.SECONDS);
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"event\":\"credentials_changed\"");
    }

    @Test
    void plainHttpIsRedirectedToHttps() throws Exception {
        InetSocketAddress redirect = gateway.redirectAddress();
        try (Socket s = new Socket(redirect.getAddress(), redirect.getPort())) {
            s.setSoTimeout(5000);
            s.getOutputStream().write("GET /some/path?x=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            String resp = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertThat(resp).startsWith("HTTP/1.1 301").contains("location: https://gw.test:" + address.getPort() + "/some/path?x=1");
        }
    }
}
