package dev.enclave.gateway.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.GatewayServer;
import dev.enclave.gateway.GatewaySettings;
import dev.enclave.gateway.GatewayTrust;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The keep-alive pool between the proxy and the app, with real sockets on both sides: an app that
 * counts the TCP connections it accepts and can close them, drop a request, or hold responses;
 * the proxy's own pipeline (HTTP codec, {@link ProxyHandler}) on one event loop, so "the pool of
 * this loop" is the whole pool; clients on plain sockets.
 */
class UpstreamPoolTest {
    private static final AttributeKey<String> USER = AttributeKey.valueOf("test.user");
    @TempDir
    Path dir;
    private final App app = new App();
    private EventLoopGroup proxyLoop;
    private Channel proxy;
    private AuditLog audit;

    @BeforeEach
    void start() throws Exception {
        app.start();
        audit = AuditLog.open(dir.resolve("audit.log"));
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
            proxyLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        app.stop();
        audit.close();
    }

    private void startProxy(int maxIdle, Duration idleTimeout) throws InterruptedException {
        UpstreamPool pool = new UpstreamPool(app.address(), NioSocketChannel.class, audit, Duration.ofMinutes(1), maxIdle, idleTimeout);
        proxyLoop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        proxy = new ServerBootstrap().group(proxyLoop).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.attr(USER).set("alice");
                        ch.pipeline().addLast("decoder", new HttpRequestDecoder()).addLast("encoder", new HttpResponseEncoder())
                                .addLast("proxy", new ProxyHandler(pool, USER));
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    private Socket client() throws IOException {
        Socket s = new Socket("127.0.0.1", ((InetSocketAddress) proxy.localAddress()).getPort());
        s.setSoTimeout(5000);
        return s;
    }

    @Test
    void sequentialClientConnectionsShareOneUpstreamConnection() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        for (int i = 0; i < 5; i++) {
            try (Socket s = client()) {
                assertThat(exchange(s, "GET /n" + i + " HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
            }
        }
        assertThat(app.requests).containsExactly("GET /n0", "GET /n1", "GET /n2", "GET /n3", "GET /n4");
        assertThat(app.accepted.get()).isEqualTo(1);
    }

    @Test
    void aConnectionTheAppClosedWhileIdleIsNeverHandedOut() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        try (Socket s = client()) {
            assertThat(exchange(s, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        app.closeAll();
        // A POST is never repeated, so it succeeds only if the closed connection was not used for it.
        try (Socket s = client()) {
            assertThat(exchange(s, "POST /form HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1"))
                    .startsWith("HTTP/1.1 200");
        }
        assertThat(app.accepted.get()).isEqualTo(2);
    }

    @Test
    void aClientConnectionGoesOnWhenTheAppClosesItsUpstreamBetweenRequests() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        try (Socket s = client()) {
            assertThat(exchange(s, "GET /one HTTP/1.1\r\nHost: app\r\n\r\n")).startsWith("HTTP/1.1 200");
            app.closeAll();
            assertThat(exchange(s, "POST /two HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\na=1")).startsWith("HTTP/1.1 200");
        }
        assertThat(app.requests).containsExactly("GET /one", "POST /two");
        assertThat(app.accepted.get()).isEqualTo(2);
    }

    @Test
    void aSafeRequestLostOnAReusedConnectionIsSentOnceMoreOnANewOne() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        try (Socket s = client()) {
            assertThat(exchange(s, "GET /warm HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        app.dropNextRequestOnAUsedConnection = true;
        try (Socket s = client()) {
            assertThat(exchange(s, "GET /again HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        assertThat(app.requests).containsExactly("GET /warm", "GET /again", "GET /again");
        assertThat(app.accepted.get()).isEqualTo(2);
    }

    @Test
    void aRequestWithABodyLostOnAReusedConnectionIsNotRepeatedAndGets502() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        try (Socket s = client()) {
            assertThat(exchange(s, "GET /warm HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        app.dropNextRequestOnAUsedConnection = true;
        try (Socket s = client()) {
            assertThat(exchange(s, "POST /pay HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\na=1"))
                    .startsWith("HTTP/1.1 502").contains("closed the connection without answering");
        }
        assertThat(app.requests).containsExactly("GET /warm", "POST /pay");
        assertThat(app.accepted.get()).isEqualTo(1);
    }

    @Test
    void aWebSocketConnectionIsNeverPooled() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        LinkedBlockingQueue<String> got = new LinkedBlockingQueue<>();
        WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
                .buildAsync(URI.create("ws://127.0.0.1:" + ((InetSocketAddress) proxy.localAddress()).getPort() + "/ws"),
                        new WebSocket.Listener() {
                            @Override
                            public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                                got.add(data.toString());
                                w.request(1);
                                return CompletableFuture.completedFuture(null);
                            }
                        }).get(10, TimeUnit.SECONDS);
        ws.sendText("hi", true).get(5, TimeUnit.SECONDS);
        assertThat(got.poll(5, TimeUnit.SECONDS)).isEqualTo("echo:hi");
        ws.abort(); // the client connection closes while the upstream one is a raw relay
        awaitAtLeast("the app saw its WebSocket connection close", app.closed::get, 1);

        try (Socket s = client()) {
            assertThat(exchange(s, "GET /after HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        assertThat(app.accepted.get()).isEqualTo(2);
    }

    @Test
    void thePoolKeepsAtMostItsBoundAndClosesTheRest() throws Exception {
        startProxy(2, Duration.ofSeconds(30));
        app.holdUntil = 4; // four requests in flight at once need four upstream connections
        assertThat(concurrently(4)).allMatch(r -> r.startsWith("HTTP/1.1 200"));
        assertThat(app.accepted.get()).isEqualTo(4);
        awaitAtLeast("the two connections beyond the bound were closed", app.closed::get, 2);
        assertThat(app.closed.get()).isEqualTo(2);

        assertThat(concurrently(4)).allMatch(r -> r.startsWith("HTTP/1.1 200"));
        assertThat(app.accepted.get()).as("two from the pool, two new").isEqualTo(6);
    }

    @Test
    void anIdleConnectionIsClosedAfterTheIdleTimeout() throws Exception {
        startProxy(32, Duration.ofMillis(300));
        try (Socket s = client()) {
            assertThat(exchange(s, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        awaitAtLeast("the pool closed its idle connection", app.closed::get, 1);
        try (Socket s = client()) {
            assertThat(exchange(s, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        assertThat(app.accepted.get()).isEqualTo(2);
    }

    @Test
    void aHundredContinueIsRelayedAndTheConnectionIsReusedAfterTheFinalResponse() throws Exception {
        startProxy(32, Duration.ofSeconds(30));
        try (Socket s = client()) {
            s.getOutputStream().write("POST /upload HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1));
            assertThat(head(s.getInputStream())).startsWith("HTTP/1.1 100 Continue");
            s.getOutputStream().write("hello".getBytes(StandardCharsets.ISO_8859_1));
            assertThat(readUntilClosed(s.getInputStream())).startsWith("HTTP/1.1 200").endsWith("ok:hello");
        }
        try (Socket s = client()) {
            assertThat(exchange(s, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 200");
        }
        assertThat(app.accepted.get()).isEqualTo(1);
    }

    @Test
    void throughTheWholeGatewaySequentialClientsShareUpstreamConnections() throws Exception {
        Path state = dir.resolve("state");
        UserStore.update(state.resolve("users"), u -> u.with("alice", new PasswordHasher().hash("a long passphrase".toCharArray())));
        GatewayServer gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.address().getPort()), state.resolve("users"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofMinutes(1), 5, Duration.ofMinutes(10), Duration.ofHours(1)), audit);
        try {
            int port = gateway.start().getPort();
            SSLContext tls = GatewayTrust.context(state);
            String auth = "Authorization: Basic " + Base64.getEncoder().encodeToString("alice:a long passphrase".getBytes(StandardCharsets.UTF_8));
            int clients = 8;
            for (int i = 0; i < clients; i++) {
                try (Socket s = tls.getSocketFactory().createSocket("127.0.0.1", port)) {
                    s.setSoTimeout(5000);
                    s.getOutputStream().write(("GET /c" + i + " HTTP/1.1\r\nHost: gw.test\r\n" + auth + "\r\nConnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
                    assertThat(readUntilClosed(s.getInputStream())).startsWith("HTTP/1.1 200");
                }
            }
            // One pool per event loop, and the gateway runs one loop per core; without the pool it would be one per client.
            int loops = Runtime.getRuntime().availableProcessors();
            assertThat(app.accepted.get()).isLessThanOrEqualTo(Math.min(loops, clients - 1));
        } finally {
            gateway.close();
        }
    }

    /** Sends {@code n} requests for /hold on {@code n} client connections at once, then reads every answer. */
    private List<String> concurrently(int n) throws Exception {
        List<Socket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                Socket s = client();
                sockets.add(s);
                s.getOutputStream().write("GET /hold HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            }
            List<String> answers = new ArrayList<>();
            for (Socket s : sockets) {
                answers.add(readUntilClosed(s.getInputStream()));
            }
            return answers;
        } finally {
            for (Socket s : sockets) {
                s.close();
            }
        }
    }

    /** Waits (at most 10 s) for an event the app counts; the assertion is on the count, not the time. */
    private static void awaitAtLeast(String what, IntSupplier count, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (count.getAsInt() < n && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(count.getAsInt()).as(what).isGreaterThanOrEqualTo(n);
    }

    /** Writes a request and reads one response (head and Content-Length body). */
    private static String exchange(Socket s, String request) throws IOException {
        s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
        InputStream in = s.getInputStream();
        String head = head(in);
        int length = 0;
        for (String line : head.split("\r\n")) {
            if (line.toLowerCase().startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).strip());
            }
        }
        return head + new String(in.readNBytes(length), StandardCharsets.ISO_8859_1);
    }

    private static String head(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            got.write(b);
            if (got.size() >= 4 && got.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                break;
            }
        }
        return got.toString(StandardCharsets.ISO_8859_1);
    }

    private static String readUntilClosed(InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }

    /** The app: answers "ok", echoes WebSocket text, counts connections; can drop, hold and close. */
    static final class App {
        final AtomicInteger accepted = new AtomicInteger();
        final AtomicInteger closed = new AtomicInteger();
        final Queue<String> requests = new ConcurrentLinkedQueue<>();
        volatile boolean dropNextRequestOnAUsedConnection;
        volatile int holdUntil = Integer.MAX_VALUE;
        private final List<ChannelHandlerContext> held = new ArrayList<>();
        private final ChannelGroup open = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
        private EventLoopGroup group;
        private Channel server;

        void start() throws InterruptedException {
            group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
            server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            accepted.incrementAndGet();
                            open.add(ch);
                            ch.closeFuture().addListener(f -> closed.incrementAndGet());
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpServerExpectContinueHandler(),
                                    new HttpObjectAggregator(1 << 20), new WebSocketServerProtocolHandler("/ws"),
                                    new SimpleChannelInboundHandler<TextWebSocketFrame>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, TextWebSocketFrame f) {
                                            ctx.writeAndFlush(new TextWebSocketFrame("echo:" + f.text()));
                                        }
                                    }, new Requests());
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) server.localAddress();
        }

        void closeAll() {
            open.close().syncUninterruptibly();
        }

        void stop() {
            server.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }

        private final class Requests extends SimpleChannelInboundHandler<FullHttpRequest> {
            private int served;

            @Override
            protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                requests.add(req.method() + " " + req.uri());
                if (served > 0 && dropNextRequestOnAUsedConnection) {
                    dropNextRequestOnAUsedConnection = false;
                    ctx.close(); // as if its keep-alive timer fired just as the request arrived
                    return;
                }
                served++;
                String body = "ok" + (req.content().isReadable() ? ":" + req.content().toString(StandardCharsets.ISO_8859_1) : "");
                if (req.uri().equals("/hold")) {
                    synchronized (held) {
                        held.add(ctx);
                        if (held.size() >= holdUntil) {
                            held.forEach(c -> c.executor().execute(() -> answer(c, body)));
                            held.clear();
                        }
                    }
                    return;
                }
                answer(ctx, body);
            }

            private void answer(ChannelHandlerContext ctx, String body) {
                FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                        Unpooled.copiedBuffer(body, StandardCharsets.ISO_8859_1));
                r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
                ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
            }
        }
    }
}
