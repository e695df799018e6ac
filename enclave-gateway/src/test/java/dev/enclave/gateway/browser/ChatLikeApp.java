package dev.enclave.gateway.browser;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
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
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A stand-in for OpenHands behind the gateway: one page whose script opens a WebSocket back to
 * its own origin ({@code /socket.io/}, as OpenHands does) and shows every echo it receives. It
 * records the head of each page request so tests can see what the gateway passed on.
 */
final class ChatLikeApp implements AutoCloseable {
    static final String PAGE = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>chat-like app</title></head>
            <body>
            <p>user: <span id="who">%s</span></p>
            <p>socket: <span id="state">connecting</span></p>
            <input id="text"><button id="send" type="button">send</button>
            <pre id="log"></pre>
            <script>
            const state = document.getElementById('state');
            const log = document.getElementById('log');
            const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/socket.io/');
            ws.onopen = () => { state.textContent = 'open'; };
            ws.onclose = e => { state.textContent = 'closed ' + e.code; };
            ws.onmessage = e => { log.textContent += e.data + '\\n'; };
            document.getElementById('send').onclick = () => {
              const t = document.getElementById('text');
              ws.send(t.value);
              t.value = '';
            };
            </script>
            </body></html>
            """;

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel server;
    /** "METHOD URI | Cookie: … | Authorization: … | X-Forwarded-User: …" for each page request. */
    final List<String> pageRequests = new CopyOnWriteArrayList<>();

    ChatLikeApp() throws InterruptedException {
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(64 * 1024),
                                new WebSocketServerProtocolHandler("/socket.io/"), new PageHandler(),
                                new SimpleChannelInboundHandler<TextWebSocketFrame>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, TextWebSocketFrame f) {
                                        ctx.writeAndFlush(new TextWebSocketFrame("echo:" + f.text()));
                                    }
                                });
                    }
                }).bind("127.0.0.1", 0).sync().channel();
    }

    int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private final class PageHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            if (req.uri().equals("/favicon.ico")) { // asked for by the browser itself; not a page
                FullHttpResponse none = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NOT_FOUND);
                none.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
                ctx.writeAndFlush(none);
                return;
            }
            String user = req.headers().get("X-Forwarded-User", "");
            pageRequests.add(req.method() + " " + req.uri() + " | Cookie: " + req.headers().get(HttpHeaderNames.COOKIE, "")
                    + " | Authorization: " + req.headers().get(HttpHeaderNames.AUTHORIZATION, "")
                    + " | X-Forwarded-User: " + user);
            byte[] body = String.format(PAGE, user.replaceAll("[^A-Za-z0-9_.-]", "?")).getBytes(StandardCharsets.UTF_8);
            FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.wrappedBuffer(body));
            resp.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/html; charset=utf-8");
            resp.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
            // A cookie of the app's own must survive the gateway's cookie filtering.
            resp.headers().set(HttpHeaderNames.SET_COOKIE, "app_pref=dark; Path=/; SameSite=Lax");
            ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        }
    }
}
