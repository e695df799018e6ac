import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
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
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.File;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Load tools for the LLM relay benchmark (bench/relay.sh). One file, Java 17; Netty comes from the
 * enclave jar:
 *
 * <pre>
 *   CP=enclave-cli/target/enclave.jar
 *   java -cp $CP bench/RelayLoad.java fake-llm --port P --cert F --key F [--chunks 20] [--pause-ms 5] [--key-expected K]
 *   java -cp $CP bench/RelayLoad.java latency --label L --url URL [--ca F] [--stream true] [--count 2000] [--warmup 500] [--key K]
 * </pre>
 *
 * {@code fake-llm} is an OpenAI-shaped API over TLS on 127.0.0.1: {@code POST /v1/chat/completions}
 * answers a small JSON completion with {@code usage}, or, when the body asks for
 * {@code "stream":true}, server-sent events: {@code chunks} deltas {@code pause-ms} apart, a usage
 * chunk and {@code data: [DONE]}. With {@code --key-expected} it answers 401 to any other bearer
 * key, so a run proves the key was injected. {@code latency} sends requests one after another over
 * one keep-alive connection (JDK HttpClient, HTTP/1.1) and prints the time to the first body byte
 * and to the end of the body, as percentiles. Result lines are key=value pairs.
 */
public class RelayLoad {
    static final String LOOPBACK = "127.0.0.1";
    static final String CHAT = "{\"model\":\"gpt-bench\",\"messages\":[{\"role\":\"user\",\"content\":\"say hello\"}]}";
    static final String CHAT_STREAM = "{\"model\":\"gpt-bench\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"say hello\"}]}";

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: RelayLoad fake-llm|latency ...");
            System.exit(2);
        }
        Map<String, String> o = opts(args);
        switch (args[0]) {
            case "fake-llm" -> fakeLlm(o);
            case "latency" -> latency(o);
            default -> {
                System.err.println("unknown verb " + args[0]);
                System.exit(2);
            }
        }
    }

    // ---- fake LLM API -------------------------------------------------------------------------

    static void fakeLlm(Map<String, String> o) throws Exception {
        int port = Integer.parseInt(o.get("port"));
        int chunks = Integer.parseInt(o.getOrDefault("chunks", "20"));
        long pauseMs = Long.parseLong(o.getOrDefault("pause-ms", "5"));
        String expected = o.get("key-expected");
        SslContext tls = SslContextBuilder.forServer(new File(o.get("cert")), new File(o.get("key")))
                .sslProvider(SslProvider.JDK).build();
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        Channel server = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(tls.newHandler(ch.alloc()), new HttpServerCodec(),
                                new HttpObjectAggregator(1 << 20), new FakeChat(chunks, pauseMs, expected));
                    }
                }).bind(new InetSocketAddress(LOOPBACK, port)).sync().channel();
        System.out.println("fake-llm listening on https://" + LOOPBACK + ":" + port);
        server.closeFuture().sync();
    }

    static final class FakeChat extends SimpleChannelInboundHandler<FullHttpRequest> {
        final int chunks;
        final long pauseMs;
        final String expected;

        FakeChat(int chunks, long pauseMs, String expected) {
            this.chunks = chunks;
            this.pauseMs = pauseMs;
            this.expected = expected;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION);
            if (expected != null && !("Bearer " + expected).equals(auth)) {
                full(ctx, HttpResponseStatus.UNAUTHORIZED, "{\"error\":{\"message\":\"bad key\"}}", keepAlive);
                return;
            }
            if (!req.uri().startsWith("/v1/chat/completions")) {
                full(ctx, HttpResponseStatus.NOT_FOUND, "{\"error\":{\"message\":\"no such path\"}}", keepAlive);
                return;
            }
            String body = req.content().toString(StandardCharsets.UTF_8);
            if (!body.contains("\"stream\":true")) {
                full(ctx, HttpResponseStatus.OK, "{\"id\":\"chatcmpl-b\",\"object\":\"chat.completion\",\"created\":1700000000,"
                        + "\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hello\"},"
                        + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}", keepAlive);
                return;
            }
            DefaultHttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream")
                    .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED)
                    .set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
            ctx.write(head);
            sendChunk(ctx, 0, keepAlive);
        }

        private void sendChunk(ChannelHandlerContext ctx, int i, boolean keepAlive) {
            if (!ctx.channel().isActive()) {
                return;
            }
            if (i < chunks) {
                ctx.writeAndFlush(new DefaultHttpContent(text("data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\","
                        + "\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok" + i + " \"}}]}\n\n")));
                ctx.executor().schedule(() -> sendChunk(ctx, i + 1, keepAlive), pauseMs, TimeUnit.MILLISECONDS);
                return;
            }
            ctx.write(new DefaultHttpContent(text("data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-bench\","
                    + "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":" + chunks + ",\"total_tokens\":" + (3 + chunks) + "}}\n\n"
                    + "data: [DONE]\n\n")));
            var f = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
            if (!keepAlive) {
                f.addListener(x -> ctx.close());
            }
        }

        private static void full(ChannelHandlerContext ctx, HttpResponseStatus status, String json, boolean keepAlive) {
            DefaultFullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, text(json));
            res.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json")
                    .set(HttpHeaderNames.CONTENT_LENGTH, res.content().readableBytes());
            var f = ctx.writeAndFlush(res);
            if (!keepAlive) {
                f.addListener(x -> ctx.close());
            }
        }

        private static ByteBuf text(String s) {
            return Unpooled.copiedBuffer(s, StandardCharsets.UTF_8);
        }
    }

    // ---- latency client -----------------------------------------------------------------------

    static void latency(Map<String, String> o) throws Exception {
        String label = o.get("label");
        URI url = URI.create(o.get("url"));
        boolean stream = Boolean.parseBoolean(o.getOrDefault("stream", "false"));
        int count = Integer.parseInt(o.getOrDefault("count", "2000"));
        int warmup = Integer.parseInt(o.getOrDefault("warmup", "500"));
        String key = o.getOrDefault("key", "placeholder");
        HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10));
        if (o.containsKey("ca")) {
            b.sslContext(trusting(o.get("ca")));
        }
        HttpClient client = b.build();
        HttpRequest req = HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString(stream ? CHAT_STREAM : CHAT)).build();
        long[] first = new long[count];
        long[] total = new long[count];
        int non200 = 0;
        for (int i = -warmup; i < count; i++) {
            long t0 = System.nanoTime();
            HttpResponse<InputStream> res = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
            long t1;
            try (InputStream in = res.body()) {
                int c = in.read();
                t1 = System.nanoTime();
                if (c < 0) {
                    throw new IllegalStateException(label + ": empty body");
                }
                in.transferTo(java.io.OutputStream.nullOutputStream());
            }
            long t2 = System.nanoTime();
            if (res.statusCode() != 200) {
                non200++;
            }
            if (i >= 0) {
                first[i] = t1 - t0;
                total[i] = t2 - t0;
            }
        }
        Arrays.sort(first);
        Arrays.sort(total);
        System.out.printf(Locale.ROOT, "label=%s test=latency stream=%s count=%d non200=%d ttfb_p50_ms=%.3f ttfb_p99_ms=%.3f "
                        + "total_p50_ms=%.3f total_p99_ms=%.3f%n",
                label, stream, count, non200, pct(first, 50), pct(first, 99), pct(total, 50), pct(total, 99));
    }

    static SSLContext trusting(String caFile) throws Exception {
        X509Certificate ca;
        try (InputStream in = new java.io.FileInputStream(caFile)) {
            ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        ks.setCertificateEntry("ca", ca);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
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
