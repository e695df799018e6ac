package dev.enclave.gateway;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * An h2 client on one TLS connection that sends header blocks exactly as given (no validation, so
 * it can send what browsers never would) and records what comes back on each stream: the
 * response head, the body, a reset, or the connection going away.
 */
final class RawH2Client implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel connection;
    final CompletableFuture<Http2Settings> serverSettings = new CompletableFuture<>();

    /** What came back on one stream; {@link #done} completes at end of stream, reset or close. */
    static final class Reply {
        final CompletableFuture<Reply> done = new CompletableFuture<>();
        final ByteArrayOutputStream body = new ByteArrayOutputStream();
        volatile Http2Headers headers;
        volatile Long resetCode;
        volatile boolean goneAway;
        /** Set when this client could not even send the request (then it proves nothing about the gateway). */
        volatile Throwable sendFailure;
        volatile long bodyBytes;
        Http2StreamChannel stream;

        String status() {
            return headers == null ? null : String.valueOf(headers.status());
        }

        /** "reset" for RST_STREAM or GOAWAY, otherwise the status. */
        String outcome() {
            if (sendFailure != null) {
                return "not sent: " + sendFailure;
            }
            return resetCode != null || goneAway ? "reset" : status();
        }
    }

    RawH2Client(Path trustedCert, int port) throws Exception {
        SslContext ssl = SslContextBuilder.forClient().sslProvider(SslProvider.JDK).trustManager(trustedCert.toFile())
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_2))
                .build();
        connection = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc(), "127.0.0.1", port),
                                Http2FrameCodecBuilder.forClient().encoderIgnoreMaxHeaderListSize(true).build(),
                                new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
                                    @Override
                                    protected void initChannel(Channel pushed) {
                                        pushed.close(); // the gateway never pushes
                                    }
                                }),
                                new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        if (msg instanceof Http2SettingsFrame s) {
                                            serverSettings.complete(s.settings());
                                        }
                                        ReferenceCountUtil.release(msg);
                                    }
                                });
                    }
                }).connect("127.0.0.1", port).sync().channel();
        SslHandler tls = connection.pipeline().get(SslHandler.class);
        tls.handshakeFuture().sync();
        if (!ApplicationProtocolNames.HTTP_2.equals(tls.applicationProtocol())) {
            throw new IllegalStateException("the gateway did not select h2 but " + tls.applicationProtocol());
        }
    }

    /** Request headers with the usual pseudo-headers; add to them before sending. */
    static Http2Headers get(String path, int port) {
        return new DefaultHttp2Headers(false).method("GET").scheme("https").authority("127.0.0.1:" + port).path(path);
    }

    /** Sends the head and, if {@code body} is not null, one DATA frame with it, in one flush. */
    Reply send(Http2Headers headers, byte[] body) throws Exception {
        return send(headers, body, true);
    }

    /** As {@link #send(Http2Headers, byte[])}; with {@code read} false nothing is read, so no window is returned. */
    Reply send(Http2Headers headers, byte[] body, boolean read) throws Exception {
        Reply reply = new Reply();
        Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection).option(ChannelOption.AUTO_READ, read)
                .handler(new Collector(reply)).open().sync().getNow();
        reply.stream = stream;
        stream.write(new DefaultHttp2HeadersFrame(headers, body == null)).addListener(f -> {
            if (!f.isSuccess()) {
                reply.sendFailure = f.cause();
            }
        });
        if (body != null) {
            stream.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(body), true));
        }
        stream.flush();
        return reply;
    }

    static Reply await(Reply r) throws Exception {
        return r.done.get(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        connection.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static final class Collector extends ChannelInboundHandlerAdapter {
        private final Reply reply;

        Collector(Reply reply) {
            this.reply = reply;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame h) {
                    if (reply.headers == null) {
                        reply.headers = h.headers();
                    }
                    if (h.isEndStream()) {
                        reply.done.complete(reply);
                    }
                } else if (msg instanceof Http2DataFrame d) {
                    reply.bodyBytes += d.content().readableBytes();
                    if (reply.body.size() < 1024 * 1024) {
                        d.content().readBytes(reply.body, d.content().readableBytes());
                    }
                    if (d.isEndStream()) {
                        reply.done.complete(reply);
                    }
                }
            } catch (java.io.IOException e) {
                reply.done.completeExceptionally(e);
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            // Netty hands RST_STREAM and GOAWAY to a stream as events, not reads.
            if (evt instanceof Http2ResetFrame rst) {
                reply.resetCode = rst.errorCode();
                reply.done.complete(reply);
            } else if (evt instanceof Http2GoAwayFrame g) {
                reply.goneAway = true;
                g.release();
                reply.done.complete(reply);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!reply.done.isDone()) {
                reply.goneAway = reply.resetCode == null;
                reply.done.complete(reply);
            }
        }
    }
}
