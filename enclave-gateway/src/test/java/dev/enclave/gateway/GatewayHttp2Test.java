package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.CookieManager;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The gateway serving h2 clients (ALPN h2) next to HTTP/1.1 ones: real TLS, the JDK HttpClient,
 * curl, and a raw h2 client for what well-behaved clients never send.
 */
class GatewayHttp2Test {
    private static final String PASS = "a long passphrase";
    private static final int MIB = 1024 * 1024;
    @TempDir
    Path state;
    private HttpServer app;
    private ExecutorService appThreads;
    private final AtomicInteger appRequests = new AtomicInteger();
    /** Request bodies the app read to their end, by path. */
    private final Map<String, String> completedBodies = new ConcurrentHashMap<>();
    private final Map<String, List<String>> lastHeaders = new ConcurrentHashMap<>();
    private final AtomicLong appWritten = new AtomicLong();
    private final AtomicLong appRead = new AtomicLong();
    private final CountDownLatch appWriteFailed = new CountDownLatch(1);
    private final CountDownLatch releaseHold = new CountDownLatch(1);
    private final CyclicBarrier together = new CyclicBarrier(Http2Streams.MAX_STREAMS);
    private GatewayServer gateway;
    private AuditLog audit;
    private InetSocketAddress address;

    @BeforeEach
    void start() throws Exception {
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 128);
        appThreads = Executors.newCachedThreadPool();
        app.setExecutor(appThreads);
        app.createContext("/", this::echo);
        app.createContext("/download", this::download);
        app.createContext("/hold", this::hold);
        app.createContext("/together", this::together);
        app.start();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = startGateway(app.getAddress().getPort());
    }

    private GatewayServer startGateway(int upstreamPort) throws Exception {
        GatewayServer g = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + upstreamPort), state.resolve("users"), state, null, null, List.of("gw.test"),
                16 * 1024, Duration.ofSeconds(30), 3, Duration.ofMinutes(10), Duration.ofHours(1)), audit);
        address = g.start();
        return g;
    }

    @AfterEach
    void stop() {
        releaseHold.countDown();
        gateway.close();
        app.stop(0);
        appThreads.shutdownNow();
        audit.close();
    }

    // ---- the app behind the gateway ----

    /** Reads the body to its end (SHA-256 recorded by path) and answers "hello from the app". */
    private void echo(HttpExchange ex) throws IOException {
        appRequests.incrementAndGet();
        List<String> h = new ArrayList<>();
        ex.getRequestHeaders().forEach((k, v) -> h.add(k.toLowerCase() + "=" + String.join(",", v)));
        lastHeaders.put(ex.getRequestURI().getPath(), h);
        MessageDigest sha = sha256();
        long n = 0;
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = ex.getRequestBody()) {
            for (int r; (r = in.read(buf)) > 0; n += r) {
                sha.update(buf, 0, r);
            }
        }
        completedBodies.put(ex.getRequestURI().getPath(), n + ":" + HexFormat.of().formatHex(sha.digest()));
        byte[] body = "hello from the app".getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
        ex.close();
    }

    /** {@code /download?BYTES}: that many bytes of a fixed pattern, counted as they are written. */
    private void download(HttpExchange ex) throws IOException {
        appRequests.incrementAndGet();
        long total = Long.parseLong(ex.getRequestURI().getQuery());
        ex.sendResponseHeaders(200, total);
        byte[] chunk = pattern(64 * 1024);
        try (OutputStream out = ex.getResponseBody()) {
            for (long left = total; left > 0; left -= chunk.length) {
                int n = (int) Math.min(chunk.length, left);
                out.write(chunk, 0, n);
                appWritten.addAndGet(n);
            }
        } catch (IOException e) {
            appWriteFailed.countDown();
            throw e;
        }
    }

    /** Reads nothing until the test releases it, then reads the body, counting, and answers 200. */
    private void hold(HttpExchange ex) throws IOException {
        appRequests.incrementAndGet();
        try {
            releaseHold.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = ex.getRequestBody()) {
            for (int r; (r = in.read(buf)) > 0; ) {
                appRead.addAndGet(r);
            }
        }
        ex.sendResponseHeaders(200, -1);
        ex.close();
    }

    /** Answers only once {@link Http2Streams#MAX_STREAMS} requests are inside the app at the same time. */
    private void together(HttpExchange ex) throws IOException {
        appRequests.incrementAndGet();
        int status;
        try {
            together.await(20, TimeUnit.SECONDS);
            status = 200;
        } catch (Exception e) {
            status = 504;
        }
        ex.sendResponseHeaders(status, -1);
        ex.close();
    }

    // ---- helpers ----

    private static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private Path certFile() {
        return state.resolve("tls/cert.pem");
    }

    private HttpClient client(HttpClient.Version version) throws Exception {
        return HttpClient.newBuilder().version(version).sslContext(GatewayTrust.context(state)).connectTimeout(Duration.ofSeconds(5)).build();
    }

    private URI url(String path) {
        return URI.create("https://127.0.0.1:" + address.getPort() + path);
    }

    private static String basic(String user, String pass) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8));
    }

    private HttpRequest.Builder authed(String path) {
        return HttpRequest.newBuilder(url(path)).header("Authorization", basic("alice", PASS));
    }

    private Http2Headers authedH2(String method, String path) {
        return RawH2Client.get(path, address.getPort()).method(method).set("authorization", basic("alice", PASS));
    }

    /** Waits until {@code counter} has not moved for half a second (at most 20 s) and returns it. */
    private static long settled(LongSupplier counter) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        long last = -1;
        while (System.nanoTime() < deadline) {
            long now = counter.getAsLong();
            if (now == last && now > 0) {
                return now;
            }
            last = now;
            Thread.sleep(500);
        }
        return counter.getAsLong();
    }

    // ---- the specification ----

    @Test
    void anH2ClientGetsH2AndReachesTheAppWithTrustedForwardedHeadersAndWithoutItsCredentials() throws Exception {
        HttpResponse<String> r = client(HttpClient.Version.HTTP_2).send(authed("/v1/thing?q=1")
                .header("X-Forwarded-For", "6.6.6.6").header("X-Forwarded-User", "admin").header("X-Http2-Stream-Id", "99")
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("hello from the app");
        assertThat(r.headers().firstValue("strict-transport-security")).contains("max-age=63072000");
        assertThat(r.headers().firstValue("content-security-policy")).contains("frame-ancestors 'none'");
        String port = String.valueOf(address.getPort());
        assertThat(lastHeaders.get("/v1/thing")).contains("x-forwarded-for=127.0.0.1", "x-forwarded-user=alice",
                        "x-forwarded-proto=https", "x-forwarded-host=127.0.0.1:" + port, "host=127.0.0.1:" + port)
                .noneMatch(h -> h.startsWith("authorization=") || h.startsWith("x-http2-") || h.contains("6.6.6.6")
                        || h.contains("admin"));
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log")))
                .contains("\"event\":\"access\",\"user\":\"alice\",\"source\":\"127.0.0.1\",\"proto\":\"h2\",\"method\":\"GET\",\"path\":\"/v1/thing\",\"query\":true,\"status\":200");
    }

    @Test
    void anH2RequestWithoutCredentialsGets401WithAChallengeAndNeverReachesTheApp() throws Exception {
        HttpResponse<String> r = client(HttpClient.Version.HTTP_2).send(HttpRequest.newBuilder(url("/")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("www-authenticate")).contains("Basic realm=\"Enclave\", charset=\"UTF-8\"");
        assertThat(r.headers().firstValue("strict-transport-security")).isPresent();
        HttpResponse<String> wrong = client(HttpClient.Version.HTTP_2).send(HttpRequest.newBuilder(url("/"))
                .header("Authorization", basic("alice", "not the password")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void anHttp11OnlyClientIsStillServedHttp11() throws Exception {
        HttpResponse<String> r = client(HttpClient.Version.HTTP_1_1).send(authed("/old").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
        assertThat(r.statusCode()).isEqualTo(200);
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"proto\":\"http/1.1\",\"method\":\"GET\",\"path\":\"/old\"");
    }

    @Test
    void aHundredStreamsOnOneConnectionAreInTheAppAtOnceAndAllAnswered() throws Exception {
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            List<RawH2Client.Reply> replies = new ArrayList<>();
            for (int i = 0; i < Http2Streams.MAX_STREAMS; i++) {
                replies.add(h2.send(authedH2("GET", "/together"), null));
            }
            for (RawH2Client.Reply r : replies) {
                assertThat(RawH2Client.await(r).outcome()).isEqualTo("200");
            }
        }
        assertThat(appRequests.get()).isEqualTo(Http2Streams.MAX_STREAMS);
    }

    @Test
    void manyConcurrentJdkClientRequestsShareOneH2ConnectionAndAreAllAnswered() throws Exception {
        HttpClient c = client(HttpClient.Version.HTTP_2);
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            all.add(c.sendAsync(authed("/many/" + i).build(), HttpResponse.BodyHandlers.ofString()));
        }
        for (CompletableFuture<HttpResponse<String>> f : all) {
            HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
            assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("hello from the app");
        }
        assertThat(appRequests.get()).isEqualTo(60);
    }

    @Test
    void twentyMegabytesStreamUpAndDownIntact() throws Exception {
        HttpClient c = client(HttpClient.Version.HTTP_2);
        byte[] upload = pattern(20 * MIB);
        HttpResponse<String> up = c.send(authed("/upload").POST(HttpRequest.BodyPublishers.ofByteArray(upload)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(up.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(up.statusCode()).isEqualTo(200);
        assertThat(completedBodies.get("/upload")).isEqualTo(upload.length + ":" + HexFormat.of().formatHex(sha256().digest(upload)));

        HttpResponse<InputStream> down = c.send(authed("/download?" + 20 * MIB).build(), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(down.version()).isEqualTo(HttpClient.Version.HTTP_2);
        MessageDigest got = sha256();
        MessageDigest want = sha256();
        byte[] chunk = pattern(64 * 1024);
        for (int i = 0; i < 20 * MIB / chunk.length; i++) {
            want.update(chunk);
        }
        long n = 0;
        try (InputStream in = down.body()) {
            byte[] buf = new byte[64 * 1024];
            for (int r; (r = in.read(buf)) > 0; n += r) {
                got.update(buf, 0, r);
            }
        }
        assertThat(n).isEqualTo(20L * MIB);
        assertThat(got.digest()).isEqualTo(want.digest());
    }

    @Test
    void aDownloadTheClientDoesNotReadStallsTheAppInsteadOfFillingTheGateway() throws Exception {
        long total = 256L * MIB;
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            // The client returns no flow-control window, so the gateway may send only the first 64 KiB.
            RawH2Client.Reply r = h2.send(authedH2("GET", "/download?" + total), null, false);
            long written = settled(appWritten::get);
            // What the app got out is what fits in the socket buffers and the gateway's water marks.
            assertThat(written).isLessThan(32L * MIB);
            // Cancelling the stream closes the upstream connection: the app's blocked write fails.
            r.stream.close();
            assertThat(appWriteFailed.await(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void anUploadTheAppDoesNotReadStallsTheClientInsteadOfFillingTheGateway() throws Exception {
        long total = 256L * MIB;
        AtomicLong pulled = new AtomicLong();
        byte[] chunk = pattern(64 * 1024);
        HttpRequest.BodyPublisher counting = HttpRequest.BodyPublishers.fromPublisher(subscriber -> subscriber.onSubscribe(
                new Flow.Subscription() {
                    private long sent;

                    @Override
                    public void request(long n) {
                        for (long i = 0; i < n && sent < total; i++) {
                            sent += chunk.length;
                            pulled.addAndGet(chunk.length);
                            subscriber.onNext(ByteBuffer.wrap(chunk));
                        }
                        if (sent >= total) {
                            subscriber.onComplete();
                        }
                    }

                    @Override
                    public void cancel() {
                    }
                }), total);
        CompletableFuture<HttpResponse<Void>> f = client(HttpClient.Version.HTTP_2).sendAsync(
                authed("/hold").POST(counting).build(), HttpResponse.BodyHandlers.discarding());
        long taken = settled(pulled::get);
        assertThat(taken).isLessThan(48L * MIB);
        releaseHold.countDown();
        HttpResponse<Void> r = f.get(60, TimeUnit.SECONDS);
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(appRead.get()).isEqualTo(total);
    }

    @ParameterizedTest(name = "an h2 request with {0}: {1}")
    @CsvSource(delimiter = '|', value = {
        // Connection-specific fields are illegal in h2 (RFC 9113 8.2.2): the stream is reset (PROTOCOL_ERROR).
        "connection: keep-alive          | reset 1",
        "transfer-encoding: chunked      | reset 1",
        "keep-alive: timeout=5           | reset 1",
        "proxy-connection: keep-alive    | reset 1",
        "upgrade: websocket              | reset 1",
        "te: gzip                        | reset 1",
        "X-Upper: case in a header name  | reset 1",
        // Two authorities that differ (RFC 9113 8.3.1 lets the server treat it as malformed).
        "host: other.test                | reset 1",
        "no :authority                   | 400",
        "header list over the limit      | 431"})
    void malformedH2RequestsNeverReachTheApp(String what, String expected) throws Exception {
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            Http2Headers headers = authedH2("GET", "/");
            switch (what) {
                case "no :authority" -> headers.remove(":authority");
                case "header list over the limit" -> headers.set("x-big", "a".repeat(20_000));
                default -> headers.add(what.substring(0, what.indexOf(':')), what.substring(what.indexOf(':') + 2));
            }
            RawH2Client.Reply r = RawH2Client.await(h2.send(headers, null));
            assertThat(r.outcome() + (r.resetCode == null ? "" : " " + r.resetCode)).isEqualTo(expected);
        }
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void aHostFieldNextToTheSameAuthorityIsForwardedOnce() throws Exception {
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            String authority = "127.0.0.1:" + address.getPort();
            assertThat(RawH2Client.await(h2.send(authedH2("GET", "/both").add("host", authority), null)).outcome()).isEqualTo("200");
        }
        assertThat(lastHeaders.get("/both")).filteredOn(h -> h.startsWith("host=")).containsExactly("host=127.0.0.1:" + address.getPort());
    }

    @Test
    void aBodyLongerThanItsContentLengthResetsTheStreamAndNothingIsSmuggled() throws Exception {
        byte[] smuggled = "GET /smuggled HTTP/1.1\r\nHost: gw\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            RawH2Client.Reply r = RawH2Client.await(h2.send(authedH2("POST", "/upload").set("content-length", "0"), smuggled));
            assertThat(r.resetCode).as("PROTOCOL_ERROR").isEqualTo(1);
            RawH2Client.Reply shorter = RawH2Client.await(h2.send(authedH2("POST", "/short").set("content-length", "100"),
                    "ten bytes!".getBytes(StandardCharsets.US_ASCII)));
            assertThat(shorter.resetCode).as("PROTOCOL_ERROR").isEqualTo(1);
            // The same connection still serves a well-formed request.
            assertThat(RawH2Client.await(h2.send(authedH2("GET", "/after"), null)).outcome()).isEqualTo("200");
        }
        assertThat(lastHeaders).doesNotContainKey("/smuggled");
        assertThat(completedBodies).doesNotContainKeys("/upload", "/short");
    }

    @Test
    void theGatewayDoesNotOfferWebSocketsOverH2SoBrowsersUseHttp11ForThem() throws Exception {
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            io.netty.handler.codec.http2.Http2Settings s = h2.serverSettings.get(5, TimeUnit.SECONDS);
            assertThat(s.get((char) 8)).as("SETTINGS_ENABLE_CONNECT_PROTOCOL").isNull();
            assertThat(s.maxConcurrentStreams()).isEqualTo(Http2Streams.MAX_STREAMS);
            assertThat(s.maxHeaderListSize()).isEqualTo(16 * 1024);
        }
    }

    @Test
    void aWebSocketStillWorksOverHttp11WhileH2IsOffered() throws Exception {
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            Channel ws = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(65536),
                                    new io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler("/socket.io/"),
                                    new SimpleChannelInboundHandler<io.netty.handler.codec.http.websocketx.TextWebSocketFrame>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx,
                                                                    io.netty.handler.codec.http.websocketx.TextWebSocketFrame f) {
                                            ctx.writeAndFlush(new io.netty.handler.codec.http.websocketx.TextWebSocketFrame("echo:" + f.text()));
                                        }
                                    });
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            gateway.close();
            gateway = startGateway(((InetSocketAddress) ws.localAddress()).getPort());
            HttpClient c = client(HttpClient.Version.HTTP_2);
            java.util.concurrent.LinkedBlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            java.net.http.WebSocket socket = c.newWebSocketBuilder().header("Authorization", basic("alice", PASS))
                    .buildAsync(URI.create("wss://127.0.0.1:" + address.getPort() + "/socket.io/"), new java.net.http.WebSocket.Listener() {
                        @Override
                        public java.util.concurrent.CompletionStage<?> onText(java.net.http.WebSocket w, CharSequence data, boolean last) {
                            got.add(data.toString());
                            w.request(1);
                            return null;
                        }
                    }).get(10, TimeUnit.SECONDS);
            socket.sendText("one", true).get(5, TimeUnit.SECONDS);
            assertThat(got.poll(5, TimeUnit.SECONDS)).isEqualTo("echo:one");
            socket.sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
            ws.close();
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    @Test
    void finishedStreamsGiveTheirUpstreamConnectionBackToThePoolAndAResetStreamClosesIts() throws Exception {
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        AtomicInteger accepted = new AtomicInteger();
        AtomicInteger served = new AtomicInteger();
        CompletableFuture<Channel> unanswered = new CompletableFuture<>();
        Map<String, Channel> servedOn = new ConcurrentHashMap<>();
        try {
            Channel upstream = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            accepted.incrementAndGet();
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(65536),
                                    new SimpleChannelInboundHandler<FullHttpRequest>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                                            if (req.uri().equals("/never")) {
                                                unanswered.complete(ctx.channel()); // no answer: the exchange stays open
                                                return;
                                            }
                                            served.incrementAndGet();
                                            servedOn.put(req.uri(), ctx.channel());
                                            DefaultFullHttpResponse ok = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                    HttpResponseStatus.OK, Unpooled.copiedBuffer("ok", StandardCharsets.US_ASCII));
                                            ok.headers().set(HttpHeaderNames.CONTENT_LENGTH, 2);
                                            ctx.writeAndFlush(ok); // keep-alive: the connection can serve the next stream
                                        }
                                    });
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            gateway.close();
            gateway = startGateway(((InetSocketAddress) upstream.localAddress()).getPort());
            try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
                // One h2 connection lives on one event loop, so its streams share that loop's pool.
                for (int i = 0; i < 20; i++) {
                    assertThat(RawH2Client.await(h2.send(authedH2("GET", "/s/" + i), null)).outcome()).isEqualTo("200");
                }
                assertThat(served.get()).isEqualTo(20);
                assertThat(accepted.get()).as("upstream connections for 20 streams one after another").isBetween(1, 2);

                // Reset mid-exchange: that upstream connection may hold half an answer, so it is closed, never pooled.
                RawH2Client.Reply cancelled = h2.send(authedH2("GET", "/never"), null);
                Channel carried = unanswered.get(10, TimeUnit.SECONDS);
                cancelled.stream.close().sync();
                // A stream the gateway answers itself: once its answer is back, the reset before it has been handled.
                assertThat(RawH2Client.await(h2.send(RawH2Client.get("/sync", address.getPort()), null)).outcome()).isEqualTo("401");
                assertThat(RawH2Client.await(h2.send(authedH2("GET", "/after-reset"), null)).outcome()).isEqualTo("200");
                assertThat(servedOn.get("/after-reset")).isNotSameAs(carried);
                assertThat(carried.closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
                assertThat(served.get()).isEqualTo(21);
            }
            upstream.close();
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    @Test
    void aBrowserLogsInWithTheFormOverH2AndTheAppNeverSeesTheSessionCookieEvenWhenCookieIsSplit() throws Exception {
        HttpClient browser = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).sslContext(GatewayTrust.context(state))
                .cookieHandler(new CookieManager()).connectTimeout(Duration.ofSeconds(5)).build();
        String html = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
        HttpResponse<String> page = browser.send(HttpRequest.newBuilder(url("/workspace")).header("Accept", html).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(page.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(page.statusCode()).isEqualTo(401);
        Matcher csrf = Pattern.compile("<input type=\"hidden\" name=\"csrf\" value=\"([^\"]+)\">").matcher(page.body());
        assertThat(csrf.find()).isTrue();
        String form = "user=alice&password=" + URLEncoder.encode(PASS, StandardCharsets.UTF_8) + "&csrf="
                + URLEncoder.encode(csrf.group(1), StandardCharsets.UTF_8) + "&next=%2Fworkspace";
        HttpResponse<String> login = browser.send(HttpRequest.newBuilder(url("/.enclave/login"))
                .header("Content-Type", "application/x-www-form-urlencoded").header("Origin", "https://127.0.0.1:" + address.getPort())
                .header("Sec-Fetch-Site", "same-origin").POST(HttpRequest.BodyPublishers.ofString(form)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(login.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(login.statusCode()).isEqualTo(303);
        assertThat(login.headers().firstValue("location")).contains("/workspace");
        Matcher session = Pattern.compile("__Host-enclave_session=([A-Za-z0-9_-]{43});")
                .matcher(String.join("\n", login.headers().allValues("set-cookie")));
        assertThat(session.find()).isTrue();
        String token = session.group(1);

        // The cookie jar sends the gateway's cookies back; only the user name reaches the app.
        HttpResponse<String> app = browser.send(HttpRequest.newBuilder(url("/workspace")).header("Accept", html).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(app.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(app.statusCode()).isEqualTo(200);
        assertThat(lastHeaders.get("/workspace")).contains("x-forwarded-user=alice")
                .noneMatch(h -> h.startsWith("cookie=") || h.startsWith("authorization="));

        // RFC 9113 8.2.3: a browser may send each cookie in a field of its own.
        try (RawH2Client h2 = new RawH2Client(certFile(), address.getPort())) {
            Http2Headers split = RawH2Client.get("/split", address.getPort()).add("cookie", "theme=dark")
                    .add("cookie", "__Host-enclave_session=" + token).add("cookie", "lang=en")
                    .add("cookie", "__Host-enclave_csrf=" + csrf.group(1));
            assertThat(RawH2Client.await(h2.send(split, null)).outcome()).isEqualTo("200");
            Http2Headers onlyOurs = RawH2Client.get("/only-ours", address.getPort()).add("cookie", "__Host-enclave_csrf=x")
                    .add("cookie", "__Host-enclave_session=" + token);
            assertThat(RawH2Client.await(h2.send(onlyOurs, null)).outcome()).isEqualTo("200");
            Http2Headers stale = RawH2Client.get("/stale", address.getPort()).add("cookie", "theme=dark")
                    .add("cookie", "__Host-enclave_session=" + "A".repeat(43));
            assertThat(RawH2Client.await(h2.send(stale, null)).outcome()).isEqualTo("401");
        }
        assertThat(lastHeaders.get("/split")).contains("x-forwarded-user=alice", "cookie=theme=dark; lang=en")
                .noneMatch(h -> h.contains("enclave_"));
        assertThat(lastHeaders.get("/only-ours")).contains("x-forwarded-user=alice").noneMatch(h -> h.startsWith("cookie="));
        assertThat(lastHeaders).doesNotContainKey("/stale");
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log")))
                .contains("\"result\":\"success\",\"method\":\"form\"")
                .contains("\"user\":\"alice\",\"source\":\"127.0.0.1\",\"proto\":\"h2\",\"method\":\"GET\",\"path\":\"/split\",\"query\":false,\"status\":200");
    }

    @Test
    void wrongPasswordsOnH2StreamsBanTheSourceAndNewConnectionsAreDroppedBeforeTls() throws Exception {
        HttpClient c = client(HttpClient.Version.HTTP_2);
        for (int i = 0; i < 2; i++) {
            assertThat(c.send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", "wrong-password-" + i)).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
        }
        HttpResponse<String> third = c.send(HttpRequest.newBuilder(url("/")).header("Authorization", basic("alice", "wrong-3-xxxxxx"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(third.statusCode()).isEqualTo(403);
        assertThatThrownBy(() -> client(HttpClient.Version.HTTP_2).send(authed("/").build(), HttpResponse.BodyHandlers.ofString()))
                .isInstanceOf(IOException.class);
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void curlWithHttp2GetsH2AndWithHttp11GetsHttp11() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed");
        Process v = new ProcessBuilder("/usr/bin/curl", "-V").redirectErrorStream(true).start();
        String features = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        v.waitFor();
        assumeTrue(features.contains("HTTP2"), "this curl has no HTTP/2 support");
        for (String[] c : new String[][] {{"--http2", "2 200"}, {"--http1.1", "1.1 200"}}) {
            Process p = new ProcessBuilder("/usr/bin/curl", "-sS", c[0], "--cacert", certFile().toString(), "-u", "alice:" + PASS,
                    "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url("/curl").toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(out).as(c[0]).isEqualTo(c[1]);
        }
        assertThat(appRequests.get()).isEqualTo(2);
    }
}
