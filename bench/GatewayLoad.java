import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
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
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Load tools for the gateway WebSocket and flood benchmarks (bench/gateway-ws.sh,
 * bench/gateway-flood.sh). One file, Java 17; Netty comes from the enclave jar:
 *
 * <pre>
 *   CP=enclave-cli/target/enclave.jar
 *   java -cp $CP bench/GatewayLoad.java echo-server --port P
 *   java -cp $CP bench/GatewayLoad.java rtt   --label L --url ws(s)://127.0.0.1:P/ws [--auth user:pass] [--count 20000] [--warmup 5000] [--size 64]
 *   java -cp $CP bench/GatewayLoad.java idle  --label L --url ws(s)://127.0.0.1:P/ws [--auth user:pass] --count 1000 --pid PID [--settle 3]
 *   java -cp $CP bench/GatewayLoad.java user  --label L --port P --auth user:pass [--source 127.0.0.2] [--rate 50] [--seconds 20]
 *                                             [--flood-args FILE]   (the flood command, one argument per line)
 *   java -cp $CP bench/GatewayLoad.java rate  --label L --port P --auth user:pass --rate R [--conns 64] [--seconds 10] [--warmup 3]
 * </pre>
 *
 * Every address is on 127.0.0.0/8; every loop is bounded by a count and a deadline. TLS clients
 * trust any certificate and skip the host-name check: the peers use self-signed certificates on
 * loopback, and what is measured is the same for all of them. Result lines are key=value pairs.
 */
public class GatewayLoad {
    static final String LOOPBACK = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        // Read by the JDK HTTP client when its first instance is made, so it is set before any.
        System.setProperty("jdk.internal.httpclient.disableHostnameVerification", "true");
        if (args.length == 0) {
            System.err.println("usage: GatewayLoad echo-server|rtt|idle|user|rate ...");
            System.exit(2);
        }
        Map<String, String> o = opts(args);
        switch (args[0]) {
            case "echo-server" -> echoServer(o);
            case "rtt" -> rtt(o);
            case "idle" -> idle(o);
            case "user" -> user(o);
            case "rate" -> rate(o);
            default -> {
                System.err.println("unknown verb " + args[0]);
                System.exit(2);
            }
        }
    }

    // ---- echo server: Netty, one event loop; /ws echoes every data frame, anything else is 200 "ok"

    static void echoServer(Map<String, String> o) throws Exception {
        int port = Integer.parseInt(o.get("port"));
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        Channel server = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(64 * 1024),
                                new WebSocketServerProtocolHandler("/ws", null, false, 1 << 20),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                                        var res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                                                Unpooled.copiedBuffer("ok", StandardCharsets.US_ASCII));
                                        res.headers().set(HttpHeaderNames.CONTENT_LENGTH, 2);
                                        boolean keepAlive = HttpUtil.isKeepAlive(req);
                                        var f = ctx.writeAndFlush(res);
                                        if (!keepAlive) {
                                            f.addListener(ChannelFutureListener.CLOSE);
                                        }
                                    }
                                },
                                new SimpleChannelInboundHandler<WebSocketFrame>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
                                        ctx.writeAndFlush(frame.retain());
                                    }
                                });
                    }
                }).bind(new InetSocketAddress(LOOPBACK, port)).sync().channel();
        System.out.println("echo-server listening on " + LOOPBACK + ":" + port);
        server.closeFuture().sync();
    }

    // ---- WebSocket client (JDK) -----------------------------------------------------------------

    /** One WebSocket whose listener hands each complete text message to the waiting sender. */
    static final class EchoSocket implements WebSocket.Listener {
        final StringBuilder partial = new StringBuilder();
        volatile CompletableFuture<String> pending = new CompletableFuture<>();
        volatile boolean closed;
        WebSocket ws;

        @Override
        public void onOpen(WebSocket webSocket) {
            webSocket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                String m = partial.toString();
                partial.setLength(0);
                pending.complete(m);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closed = true;
            pending.completeExceptionally(new IOException("closed " + statusCode + " " + reason));
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closed = true;
            pending.completeExceptionally(error);
        }

        /** Sends {@code text} and waits (bounded) for it to come back. */
        String roundTrip(String text, long timeoutMs) throws Exception {
            CompletableFuture<String> f = new CompletableFuture<>();
            pending = f;
            ws.sendText(text, true);
            return f.get(timeoutMs, TimeUnit.MILLISECONDS);
        }
    }

    static HttpClient httpClient() throws Exception {
        return HttpClient.newBuilder().sslContext(trustAll()).connectTimeout(Duration.ofSeconds(10))
                .version(HttpClient.Version.HTTP_1_1).build();
    }

    static EchoSocket connect(HttpClient client, URI url, String auth) throws Exception {
        EchoSocket s = new EchoSocket();
        WebSocket.Builder b = client.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
        if (auth != null) {
            b.header("Authorization", basic(auth));
        }
        s.ws = b.buildAsync(url, s).get(20, TimeUnit.SECONDS);
        return s;
    }

    static void rtt(Map<String, String> o) throws Exception {
        String label = o.get("label");
        URI url = URI.create(o.get("url"));
        int count = Integer.parseInt(o.getOrDefault("count", "20000"));
        int warmup = Integer.parseInt(o.getOrDefault("warmup", "5000"));
        int size = Integer.parseInt(o.getOrDefault("size", "64"));
        HttpClient client = httpClient();
        EchoSocket s = connect(client, url, o.get("auth"));
        String msg = "x".repeat(size);
        for (int i = 0; i < warmup; i++) {
            check(s.roundTrip(msg, 10_000), msg);
        }
        long[] ns = new long[count];
        for (int i = 0; i < count; i++) {
            long t0 = System.nanoTime();
            String back = s.roundTrip(msg, 10_000);
            ns[i] = System.nanoTime() - t0;
            check(back, msg);
        }
        s.ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
        Arrays.sort(ns);
        System.out.printf(Locale.ROOT, "label=%s test=rtt count=%d size=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f mean_ms=%.3f%n",
                label, count, size, pct(ns, 50), pct(ns, 90), pct(ns, 99), pct(ns, 99.9), ns[count - 1] / 1e6,
                Arrays.stream(ns).average().orElse(0) / 1e6);
    }

    static void check(String back, String sent) throws IOException {
        if (!sent.equals(back)) {
            throw new IOException("echo mismatch: sent " + sent.length() + " chars, got " + (back == null ? "null" : back.length()));
        }
    }

    static void idle(Map<String, String> o) throws Exception {
        String label = o.get("label");
        URI url = URI.create(o.get("url"));
        int count = Integer.parseInt(o.getOrDefault("count", "1000"));
        long pid = Long.parseLong(o.get("pid"));
        int settle = Integer.parseInt(o.getOrDefault("settle", "3"));
        String auth = o.get("auth");
        Memory before = Memory.of(pid);
        HttpClient client = httpClient();
        List<EchoSocket> sockets = new ArrayList<>();
        AtomicInteger failed = new AtomicInteger();
        ExecutorService opener = Executors.newFixedThreadPool(16);
        List<CompletableFuture<EchoSocket>> opening = new ArrayList<>();
        long t0 = System.nanoTime();
        // The first socket alone, as a browser logs in once: its credentials are then in the
        // gateway's verified-credential cache. (Opened all at once, every upgrade misses the cache
        // and hashes; past the bounded hashing queue the gateway answers 503.)
        sockets.add(connect(client, url, auth));
        check(sockets.get(0).roundTrip("first", 10_000), "first");
        for (int i = 1; i < count; i++) {
            String msg = "hello " + i;
            opening.add(CompletableFuture.supplyAsync(() -> {
                try {
                    EchoSocket s = connect(client, url, auth);
                    check(s.roundTrip(msg, 10_000), msg);
                    return s;
                } catch (Exception e) {
                    if (failed.incrementAndGet() <= 3) {
                        Throwable c = e.getCause() != null ? e.getCause() : e;
                        System.err.println("idle: open failed: " + c + (c instanceof java.net.http.WebSocketHandshakeException h
                                ? " (HTTP " + h.getResponse().statusCode() + ")" : ""));
                    }
                    return null;
                }
            }, opener));
        }
        for (CompletableFuture<EchoSocket> f : opening) {
            EchoSocket s = f.get(120, TimeUnit.SECONDS);
            if (s != null) {
                sockets.add(s);
            }
        }
        double openSeconds = (System.nanoTime() - t0) / 1e9;
        opener.shutdown();
        Thread.sleep(settle * 1000L); // let the peer settle (buffers released, GC) before reading its memory
        Memory with = Memory.of(pid);
        int alive = 0;
        for (int i = 0; i < sockets.size(); i++) {
            EchoSocket s = sockets.get(i);
            try {
                check(s.roundTrip("still there " + i, 10_000), "still there " + i);
                alive++;
            } catch (Exception e) {
                // counted as not alive
            }
        }
        for (EchoSocket s : sockets) {
            s.ws.abort();
        }
        System.out.printf(Locale.ROOT, "label=%s test=idle sockets=%d alive=%d failed=%d open_s=%.1f rss_before_mb=%.1f rss_mb=%.1f"
                        + " kb_per_socket=%.1f pss_mb=%.1f processes=%d threads=%d%n",
                label, count, alive, failed.get(), openSeconds, before.rssKb / 1024.0, with.rssKb / 1024.0,
                (with.rssKb - before.rssKb) / (double) Math.max(1, alive), with.pssKb / 1024.0, with.processes, with.threads);
    }

    /** VmRSS and PSS summed over a process and its descendants (nginx: master and workers). */
    record Memory(long rssKb, long pssKb, int processes, int threads) {
        static Memory of(long pid) throws IOException {
            List<Long> pids = new ArrayList<>();
            pids.add(pid);
            ProcessHandle.of(pid).ifPresent(p -> p.descendants().forEach(d -> pids.add(d.pid())));
            long rss = 0;
            long pss = 0;
            int threads = 0;
            for (long p : pids) {
                for (String line : Files.readAllLines(Path.of("/proc/" + p + "/status"))) {
                    if (line.startsWith("VmRSS:")) {
                        rss += Long.parseLong(line.replaceAll("\\D", ""));
                    } else if (line.startsWith("Threads:")) {
                        threads += Integer.parseInt(line.replaceAll("\\D", ""));
                    }
                }
                Path rollup = Path.of("/proc/" + p + "/smaps_rollup");
                if (Files.isReadable(rollup)) {
                    for (String line : Files.readAllLines(rollup)) {
                        if (line.startsWith("Pss:")) {
                            pss += Long.parseLong(line.replaceAll("\\D", ""));
                        }
                    }
                }
            }
            return new Memory(rss, pss, pids.size(), threads);
        }
    }

    // ---- a logged-in user, quiet and under a wrong-password flood -------------------------------

    /**
     * A logged-in user: requests at a fixed rate over one keep-alive HTTPS connection from
     * {@code --source} (its own address, so a flood from 127.0.0.1 is another source), each timed
     * from when it was due, so a stall counts for every request it delays. First quiet, then while
     * the flood command (one argument per line in {@code --flood-args}) runs as a child process.
     */
    static void user(Map<String, String> o) throws Exception {
        String label = o.get("label");
        int port = Integer.parseInt(o.get("port"));
        InetAddress source = loopback(o.getOrDefault("source", "127.0.0.2"));
        int rate = Integer.parseInt(o.getOrDefault("rate", "50"));
        int seconds = Integer.parseInt(o.getOrDefault("seconds", "20"));
        KeepAliveClient user = new KeepAliveClient(trustAll(), source, port, basic(o.get("auth")));
        user.paced(rate, 3); // warm-up: connection, credential cache, JIT of this client
        Phase quiet = user.paced(rate, seconds);
        print(label, "quiet", quiet);
        if (o.containsKey("flood-args")) {
            List<String> cmd = Files.readAllLines(Path.of(o.get("flood-args")));
            Process flood = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            StringBuilder floodOut = new StringBuilder();
            Thread reader = new Thread(() -> {
                try {
                    floodOut.append(new String(flood.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException ignored) {
                    // destroyed
                }
            });
            reader.start();
            Thread.sleep(2000); // the flood reaches its rate, the gateway its steady state
            Phase flooded = user.paced(rate, seconds);
            print(label, "flood", flooded);
            if (!flood.waitFor(60, TimeUnit.SECONDS)) {
                flood.destroyForcibly();
            }
            reader.join(5000);
            for (String line : floodOut.toString().split("\n")) {
                if (line.startsWith("finished in") || line.startsWith("requests:") || line.startsWith("status codes:")
                        || line.startsWith("traffic:") || line.startsWith("time for connect:")) {
                    System.out.println("label=" + label + " test=flood " + line.trim().replaceAll("\\s+", " "));
                }
            }
            System.out.printf(Locale.ROOT, "label=%s test=user ratio_p99_flood_over_quiet=%.2f ratio_p50_flood_over_quiet=%.2f%n",
                    label, flooded.p(99) / quiet.p(99), flooded.p(50) / quiet.p(50));
        }
        user.close();
    }

    // ---- rate: open-loop HTTPS load at a fixed request rate, latency from when each request was due

    /**
     * Sends {@code rate} requests/s, round-robin over {@code conns} keep-alive HTTPS connections
     * (Netty client, one event loop), whatever the server's speed: request i is due at
     * start + i/rate, waits on its connection behind earlier ones if that connection is still
     * busy, and its latency runs from when it was due, not from when it was sent (as wrk2 does;
     * a closed-loop tool like wrk lets a slow server lower its own load and hide its stalls).
     * Both peers of a comparison thus see the same offered load, which is what a p99 comparison
     * needs. The first {@code warmup} seconds are sent but not recorded.
     */
    static void rate(Map<String, String> o) throws Exception {
        String label = o.get("label");
        int port = Integer.parseInt(o.get("port"));
        String auth = basic(o.get("auth"));
        int rate = Integer.parseInt(o.get("rate"));
        int conns = Integer.parseInt(o.getOrDefault("conns", "64"));
        int seconds = Integer.parseInt(o.getOrDefault("seconds", "10"));
        int warmup = Integer.parseInt(o.getOrDefault("warmup", "3"));
        io.netty.handler.ssl.SslContext tls = io.netty.handler.ssl.SslContextBuilder.forClient()
                .sslProvider(io.netty.handler.ssl.SslProvider.JDK)
                .trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE).build();
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        long total = (long) rate * (warmup + seconds);
        long[] latencies = new long[(int) Math.min(Integer.MAX_VALUE - 8, (long) rate * seconds + 16)];
        RateStats stats = new RateStats(latencies);
        RateConnection[] connections = new RateConnection[conns];
        try {
            for (int i = 0; i < conns; i++) {
                RateConnection c = new RateConnection(port, auth, stats);
                connections[i] = c;
                Channel ch = new io.netty.bootstrap.Bootstrap().group(loop)
                        .channel(io.netty.channel.socket.nio.NioSocketChannel.class)
                        .option(ChannelOption.TCP_NODELAY, true)
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                ch.pipeline().addLast(tls.newHandler(ch.alloc(), LOOPBACK, port),
                                        new io.netty.handler.codec.http.HttpClientCodec(), c);
                            }
                        }).connect(new InetSocketAddress(LOOPBACK, port)).sync().channel();
                ch.pipeline().get(io.netty.handler.ssl.SslHandler.class).handshakeFuture().sync();
            }
            long interval = 1_000_000_000L / rate;
            long start = System.nanoTime() + 100_000_000L;
            stats.recordFrom = start + warmup * 1_000_000_000L;
            for (long i = 0; i < total; i++) {
                long due = start + i * interval;
                long now;
                while ((now = System.nanoTime()) < due) {
                    java.util.concurrent.locks.LockSupport.parkNanos(Math.min(due - now, 200_000L));
                }
                RateConnection c = connections[(int) (i % conns)];
                loop.execute(() -> c.enqueue(due));
            }
            long deadline = System.nanoTime() + 15_000_000_000L;
            while (stats.completed.get() + stats.failed.get() < total && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        long[] sorted;
        synchronized (stats) {
            sorted = Arrays.copyOf(latencies, stats.recorded);
        }
        Arrays.sort(sorted);
        long incomplete = total - stats.completed.get() - stats.failed.get();
        System.out.printf(Locale.ROOT, "label=%s test=rate rate=%d conns=%d seconds=%d due=%d completed=%d failed=%d incomplete=%d non200=%d "
                        + "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f%n",
                label, rate, conns, seconds, total, stats.completed.get(), stats.failed.get(), incomplete, stats.non200.get(),
                pct(sorted, 50), pct(sorted, 90), pct(sorted, 99), pct(sorted, 99.9),
                sorted.length == 0 ? Double.NaN : sorted[sorted.length - 1] / 1e6);
    }

    /** Counts and the recorded latencies of one rate run; written only from the client's one event loop. */
    static final class RateStats {
        final long[] latencies;
        int recorded;
        volatile long recordFrom = Long.MAX_VALUE;
        final AtomicInteger completed = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();
        final AtomicInteger non200 = new AtomicInteger();

        RateStats(long[] latencies) {
            this.latencies = latencies;
        }

        synchronized void record(long due, long now) {
            if (due >= recordFrom && recorded < latencies.length) {
                latencies[recorded++] = now - due;
            }
        }
    }

    /** One keep-alive connection: requests due on it wait in order; one is in flight at a time. */
    static final class RateConnection extends SimpleChannelInboundHandler<io.netty.handler.codec.http.HttpObject> {
        final java.util.ArrayDeque<Long> due = new java.util.ArrayDeque<>();
        final int port;
        final String auth;
        final RateStats stats;
        ChannelHandlerContext ctx;
        boolean inFlight;

        RateConnection(int port, String auth, RateStats stats) {
            this.port = port;
            this.auth = auth;
            this.stats = stats;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        void enqueue(long dueAt) {
            if (!ctx.channel().isActive()) {
                stats.failed.incrementAndGet();
                return;
            }
            due.add(dueAt);
            if (!inFlight) {
                send();
            }
        }

        void send() {
            inFlight = true;
            var req = new io.netty.handler.codec.http.DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
                    io.netty.handler.codec.http.HttpMethod.GET, "/");
            req.headers().set(HttpHeaderNames.HOST, "localhost:" + port)
                    .set(HttpHeaderNames.AUTHORIZATION, auth)
                    .set(HttpHeaderNames.CONTENT_LENGTH, 0);
            ctx.writeAndFlush(req);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, io.netty.handler.codec.http.HttpObject msg) {
            if (msg instanceof io.netty.handler.codec.http.HttpResponse r && r.status().code() != 200) {
                stats.non200.incrementAndGet();
            }
            if (msg instanceof io.netty.handler.codec.http.LastHttpContent) {
                stats.record(due.poll(), System.nanoTime());
                stats.completed.incrementAndGet();
                inFlight = false;
                if (!due.isEmpty()) {
                    send();
                }
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            stats.failed.addAndGet(due.size());
            due.clear();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    record Phase(long[] sortedNs, int errors, int non200) {
        double p(double q) {
            return pct(sortedNs, q);
        }
    }

    static void print(String label, String phase, Phase p) {
        System.out.printf(Locale.ROOT, "label=%s test=user phase=%s requests=%d errors=%d non200=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f%n",
                label, phase, p.sortedNs.length, p.errors, p.non200, p.p(50), p.p(90), p.p(99),
                p.sortedNs.length == 0 ? 0 : p.sortedNs[p.sortedNs.length - 1] / 1e6);
    }

    /** HTTP/1.1 GET / over one TLS connection, reopened only after an error; bodies need Content-Length. */
    static final class KeepAliveClient implements AutoCloseable {
        final SSLContext tls;
        final InetAddress source;
        final int port;
        final byte[] request;
        SSLSocket socket;
        InputStream in;

        KeepAliveClient(SSLContext tls, InetAddress source, int port, String auth) {
            this.tls = tls;
            this.source = source;
            this.port = port;
            this.request = ("GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + auth + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        }

        Phase paced(int rate, int seconds) throws InterruptedException {
            int n = rate * seconds;
            long interval = 1_000_000_000L / rate;
            long start = System.nanoTime();
            long[] ns = new long[n];
            int errors = 0;
            int non200 = 0;
            for (int i = 0; i < n; i++) {
                long due = start + i * interval;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                try {
                    if (get() != 200) {
                        non200++;
                    }
                } catch (IOException e) {
                    errors++;
                    close();
                }
                ns[i] = System.nanoTime() - due;
            }
            Arrays.sort(ns);
            return new Phase(ns, errors, non200);
        }

        int get() throws IOException {
            if (socket == null) {
                Socket raw = new Socket();
                raw.bind(new InetSocketAddress(source, 0));
                raw.connect(new InetSocketAddress(LOOPBACK, port), 5000);
                raw.setTcpNoDelay(true);
                raw.setSoTimeout(30_000);
                socket = (SSLSocket) tls.getSocketFactory().createSocket(raw, "localhost", port, true);
                socket.startHandshake();
                in = new java.io.BufferedInputStream(socket.getInputStream());
            }
            socket.getOutputStream().write(request);
            socket.getOutputStream().flush();
            String status = line();
            long length = -1;
            for (String h; !(h = line()).isEmpty(); ) {
                if (h.regionMatches(true, 0, "content-length:", 0, 15)) {
                    length = Long.parseLong(h.substring(15).trim());
                }
            }
            if (length < 0) {
                throw new IOException("response without Content-Length: " + status);
            }
            in.skipNBytes(length);
            return Integer.parseInt(status.substring(9, 12));
        }

        String line() throws IOException {
            StringBuilder b = new StringBuilder();
            for (int c; (c = in.read()) != '\n'; ) {
                if (c < 0) {
                    throw new IOException("connection closed");
                }
                if (c != '\r') {
                    b.append((char) c);
                }
            }
            return b.toString();
        }

        @Override
        public void close() {
            try {
                if (socket != null) {
                    socket.close();
                }
            } catch (IOException ignored) {
                // closing anyway
            }
            socket = null;
        }
    }

    static InetAddress loopback(String address) throws IOException {
        InetAddress a = InetAddress.getByName(address);
        if (!a.isLoopbackAddress()) {
            throw new IllegalArgumentException(address + " is not on 127.0.0.0/8");
        }
        return a;
    }

    // ---- helpers --------------------------------------------------------------------------------

    static String basic(String userColonPass) {
        return "Basic " + Base64.getEncoder().encodeToString(userColonPass.getBytes(StandardCharsets.UTF_8));
    }

    static SSLContext trustAll() throws Exception {
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
        return ctx;
    }

    static double pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100.0 * sorted.length) - 1));
        return sorted[i] / 1e6;
    }

    static Map<String, String> opts(String[] args) {
        Map<String, String> o = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            o.put(args[i].substring(2), args[i + 1]);
        }
        return o;
    }
}
