package dev.enclave.egress.relay;

import dev.enclave.egress.testing.TestPki;
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
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.IdentityCipherSuiteFilter;
import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.SslContext;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * An OpenAI-compatible API that speaks only HTTP/2 (ALPN h2) over real TLS on loopback, built on
 * Netty's own h2 server codec: {@code GET /v1/models}, and {@code POST /v1/chat/completions} as
 * server-sent events (first event, then a hold until {@link #releaseStreams()} when held). Records
 * each request with the TCP connection it came on, and how each stream ended: {@code "complete"},
 * or {@code "reset"} when the client reset or closed it before the end.
 */
final class FakeH2LlmApi implements AutoCloseable {
    record Seen(String method, String path, String authority, Map<String, List<String>> headers, String connection) {
        List<String> header(String name) {
            return headers.getOrDefault(name.toLowerCase(Locale.ROOT), List.of());
        }
    }

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel server;
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private volatile CountDownLatch hold;
    private volatile CompletableFuture<String> streamOutcome = new CompletableFuture<>();

    FakeH2LlmApi(TestPki pki) throws InterruptedException {
        SslContext tls = new JdkSslContext(pki.serverContext(), false, null, IdentityCipherSuiteFilter.INSTANCE,
                new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_2),
                ClientAuth.NONE, null, false);
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        String connection = ch.id().asShortText();
                        ch.pipeline().addLast(tls.newHandler(ch.alloc()),
                                Http2FrameCodecBuilder.forServer().build(),
                                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                                    @Override
                                    protected void initChannel(Http2StreamChannel stream) {
                                        stream.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true),
                                                new HttpObjectAggregator(1 << 20), new Answer(connection));
                                    }
                                }));
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    List<Seen> seen() {
        return List.copyOf(seen);
    }

    void holdStreams() {
        hold = new CountDownLatch(1);
        streamOutcome = new CompletableFuture<>();
    }

    void releaseStreams() {
        CountDownLatch h = hold;
        if (h != null) {
            h.countDown();
        }
    }

    CompletableFuture<String> streamOutcome() {
        return streamOutcome;
    }

    @Override
    public void close() {
        releaseStreams();
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private final class Answer extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final String connection;
        private boolean streaming;
        private CompletableFuture<String> outcome;

        Answer(String connection) {
            this.connection = connection;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            Map<String, List<String>> headers = new TreeMap<>();
            req.headers().forEach(e -> headers.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT), k -> new CopyOnWriteArrayList<>())
                    .add(e.getValue()));
            seen.add(new Seen(req.method().name(), req.uri(), req.headers().get(HttpHeaderNames.HOST), headers, connection));
            String body = req.content().toString(StandardCharsets.UTF_8);
            if (req.uri().startsWith("/v1/chat/completions") && body.replace(" ", "").contains("\"stream\":true")) {
                stream(ctx);
                return;
            }
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                    Unpooled.copiedBuffer("{\"object\":\"list\",\"data\":[{\"id\":\"gpt-h2\"}]}", StandardCharsets.UTF_8));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
            r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            ctx.writeAndFlush(r);
        }

        private void stream(ChannelHandlerContext ctx) {
            streaming = true;
            outcome = streamOutcome;
            HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream");
            ctx.write(head);
            ctx.writeAndFlush(event("one"));
            CountDownLatch h = hold;
            Runnable rest = () -> {
                if (!ctx.channel().isActive()) {
                    return;
                }
                ctx.write(event("two"));
                ctx.write(event("three"));
                ctx.writeAndFlush(new io.netty.handler.codec.http.DefaultLastHttpContent(
                        Unpooled.copiedBuffer("data: [DONE]\n\n", StandardCharsets.UTF_8)));
                streaming = false;
                outcome.complete("complete");
            };
            if (h == null) {
                rest.run();
            } else {
                CompletableFuture.runAsync(() -> {
                    try {
                        h.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }).thenRun(() -> ctx.executor().execute(rest));
            }
        }

        private DefaultHttpContent event(String word) {
            return new DefaultHttpContent(Unpooled.copiedBuffer(
                    "data: {\"choices\":[{\"delta\":{\"content\":\"" + word + "\"}}]}\n\n", StandardCharsets.UTF_8));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (streaming) {
                outcome.complete("reset");
            }
            ctx.fireChannelInactive();
        }
    }
}
