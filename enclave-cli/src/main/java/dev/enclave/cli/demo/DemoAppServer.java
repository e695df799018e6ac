package dev.enclave.cli.demo;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The built-in demo app {@code enclave up} runs in the app namespace when {@code app.command} is
 * not set: the page ({@link DemoPage}), a WebSocket on {@code /ask} that streams the LLM's answer
 * to a prompt as it comes from the relay ({@link DemoAskHandler}), and {@code POST /reach}, the
 * egress proxy's answer to a URL ({@link DemoPageHandler}). It knows only what its environment
 * tells it, as any app would. Binds and owns its threads; the pipeline is assembled here.
 *
 * <p>Calls to the relay and the proxy block, so they run on a small pool of worker threads, never
 * on the event loop.
 */
public final class DemoAppServer implements AutoCloseable {
    /** Largest request body, prompt or URL the app takes. */
    static final int MAX_INPUT = 16 * 1024;
    static final String ASK_PATH = "/ask";

    /**
     * @param relay    the LLM relay's OpenAI-style base URL ({@code OPENAI_BASE_URL})
     * @param relayKey the key the app sends the relay: a placeholder, the relay puts the real one in
     * @param proxy    the egress proxy ({@code HTTPS_PROXY}); null when not set
     */
    public record Settings(InetSocketAddress listen, URI relay, String relayKey, String model, URI proxy) {
    }

    private final Settings settings;
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final ExecutorService workers = Executors.newFixedThreadPool(8, r -> {
        Thread t = new Thread(r, "demo-app-worker");
        t.setDaemon(true);
        return t;
    });
    private Channel serverChannel;

    public DemoAppServer(Settings settings) {
        this.settings = settings;
    }

    /** Binds; returns the address bound (its port, when {@code listen} asked for 0). */
    public InetSocketAddress start() throws InterruptedException {
        DemoLlmClient llm = new DemoLlmClient(settings.relay(), settings.relayKey(), settings.model());
        DemoReach reach = new DemoReach(settings.proxy());
        serverChannel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ChannelPipeline p = ch.pipeline();
                        p.addLast("codec", new HttpServerCodec());
                        p.addLast("aggregator", new HttpObjectAggregator(MAX_INPUT));
                        p.addLast("origin", new DemoOriginCheck(ASK_PATH));
                        p.addLast("websocket", new WebSocketServerProtocolHandler(WebSocketServerProtocolConfig.newBuilder()
                                .websocketPath(ASK_PATH).maxFramePayloadLength(MAX_INPUT).build()));
                        p.addLast("frames", new WebSocketFrameAggregator(MAX_INPUT));
                        p.addLast("ask", new DemoAskHandler(llm, workers));
                        p.addLast("page", new DemoPageHandler(reach, workers));
                    }
                }).bind(settings.listen()).sync().channel();
        return (InetSocketAddress) serverChannel.localAddress();
    }

    @Override
    public void close() {
        if (serverChannel != null) {
            serverChannel.close().syncUninterruptibly();
        }
        workers.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
