package dev.enclave.gateway;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.auth.LockoutTracker;
import dev.enclave.gateway.proxy.ProxyHandler;
import dev.enclave.gateway.proxy.UpstreamPool;
import dev.enclave.gateway.session.SessionStore;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.util.AttributeKey;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * The gateway's pipeline, in order: TLS (the newest certificate) with ALPN; then either strict
 * HTTP/1.x decoding (bare LF, NUL, bad header names, CL+TE, obs-fold and oversized heads fail
 * here) and encoding, or h2 with one child channel per stream that converts frames to the same
 * HTTP/1 objects; then, per HTTP/1.1 connection or per h2 stream, the same handlers: security
 * headers on every response; the request guard; authentication (session cookie or Basic; the
 * login page for browsers without either); the gateway's own pages (login form, logout); the
 * reverse proxy, with upstream connections from the pool. A source that is banned is dropped
 * before the TLS handshake.
 */
final class GatewayInitializer extends ChannelInitializer<SocketChannel> {
    static final AttributeKey<String> USER = AttributeKey.valueOf("enclave.user");

    private final Supplier<SslContext> ssl;
    private final Authenticator authenticator;
    private final LockoutTracker lockout;
    private final SessionStore sessions;
    private final LoginPage loginPage;
    private final AuditLog audit;
    private final UpstreamPool upstreams;
    private final int maxHeadBytes;
    private final Duration clientIdle;
    private final Duration sessionRecheck;
    private final Executor handshakes;

    GatewayInitializer(Supplier<SslContext> ssl, Authenticator authenticator, LockoutTracker lockout, SessionStore sessions,
                       AuditLog audit, UpstreamPool upstreams, int maxHeadBytes, Duration clientIdle,
                       Duration sessionRecheck, Executor handshakes) {
        this.ssl = ssl;
        this.authenticator = authenticator;
        this.lockout = lockout;
        this.sessions = sessions;
        this.loginPage = new LoginPage(sessions.csrf());
        this.audit = audit;
        this.upstreams = upstreams;
        this.maxHeadBytes = maxHeadBytes;
        this.clientIdle = clientIdle;
        this.sessionRecheck = sessionRecheck;
        this.handshakes = handshakes;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        if (lockout.bannedUntil(ch.remoteAddress().getAddress()).isPresent()) {
            ch.close();
            return;
        }
        ChannelPipeline p = ch.pipeline();
        // The newest certificate (see ReloadingTlsContext). The handshake's key exchange and
        // signature run on the handshake pool, so a burst of new connections does not hold up
        // requests on connections this event loop already serves.
        p.addLast("ssl", handshakes == null ? ssl.get().newHandler(ch.alloc()) : ssl.get().newHandler(ch.alloc(), handshakes));
        p.addLast("alpn", new ProtocolSwitch());
    }

    /**
     * The handlers every request passes, whether it came over HTTP/1.1 or as one h2 stream: both
     * paths hand them the same HTTP/1 message objects.
     */
    private void addRequestHandlers(ChannelPipeline p) {
        p.addLast("headers", SecurityHeadersHandler.INSTANCE);
        p.addLast("guard", new RequestGuardHandler());
        p.addLast("auth", new AuthHandler(authenticator, sessions, loginPage, audit, sessionRecheck));
        p.addLast("login", new LoginPageHandler(authenticator, sessions, loginPage, audit));
        p.addLast("proxy", new ProxyHandler(upstreams, USER));
    }

    /** After the TLS handshake, assembles the protocol the client chose by ALPN (none: HTTP/1.1). */
    private final class ProtocolSwitch extends ApplicationProtocolNegotiationHandler {
        ProtocolSwitch() {
            super(ApplicationProtocolNames.HTTP_1_1);
        }

        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
            ChannelPipeline p = ctx.pipeline();
            if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                Http2FrameCodec codec = Http2Streams.frameCodec(maxHeadBytes);
                p.addLast("h2", codec);
                p.addLast("h2-idle", new Http2IdleHandler(clientIdle, codec)); // sees the frames the client sends
                p.addLast("streams", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel stream) {
                        stream.pipeline().addLast("h2-http", new Http2StreamFrameToHttpObjectCodec(true));
                        stream.pipeline().addLast("h2-errors", Http2Streams.StreamErrors.INSTANCE);
                        addRequestHandlers(stream.pipeline());
                    }
                }));
                return;
            }
            // Strict HTTP/1.x parsing: bare LF, NUL, bad header names, CL+TE, obs-fold and oversized heads fail here.
            p.addLast("decoder", new StrictRequestDecoder(maxHeadBytes));
            p.addLast("encoder", new HttpResponseEncoder());
            p.addLast("clientIdle", new ClientIdleHandler(clientIdle)); // behind the codec: counts requests and responses
            addRequestHandlers(p);
        }
    }
}
