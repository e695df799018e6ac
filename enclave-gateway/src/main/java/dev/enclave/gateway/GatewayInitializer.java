package dev.enclave.gateway;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.auth.LockoutTracker;
import dev.enclave.gateway.proxy.ProxyHandler;
import dev.enclave.gateway.session.SessionStore;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.ssl.SslContext;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * The gateway's pipeline, in order: TLS; strict HTTP/1.x decoding (bare LF, NUL, bad header names,
 * CL+TE and oversized heads fail here) and encoding; security headers on every response; the
 * request guard; authentication (session cookie or Basic; the login page for browsers without
 * either); the gateway's own pages (login form, logout); the reverse proxy. A source that is
 * banned is dropped before the TLS handshake.
 */
final class GatewayInitializer extends ChannelInitializer<SocketChannel> {
    static final AttributeKey<String> USER = AttributeKey.valueOf("enclave.user");

    private final SslContext ssl;
    private final Authenticator authenticator;
    private final LockoutTracker lockout;
    private final SessionStore sessions;
    private final LoginPage loginPage;
    private final AuditLog audit;
    private final InetSocketAddress upstream;
    private final Class<? extends SocketChannel> channelType;
    private final int maxHeadBytes;
    private final Duration upgradedIdle;

    GatewayInitializer(SslContext ssl, Authenticator authenticator, LockoutTracker lockout, SessionStore sessions,
                       AuditLog audit, InetSocketAddress upstream, Class<? extends SocketChannel> channelType,
                       int maxHeadBytes, Duration upgradedIdle) {
        this.ssl = ssl;
        this.authenticator = authenticator;
        this.lockout = lockout;
        this.sessions = sessions;
        this.loginPage = new LoginPage(sessions.csrf());
        this.audit = audit;
        this.upstream = upstream;
        this.channelType = channelType;
        this.maxHeadBytes = maxHeadBytes;
        this.upgradedIdle = upgradedIdle;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        if (lockout.bannedUntil(ch.remoteAddress().getAddress()).isPresent()) {
            ch.close();
            return;
        }
        HttpDecoderConfig decoding = new HttpDecoderConfig()
                .setMaxInitialLineLength(8192)
                .setMaxHeaderSize(maxHeadBytes)
                .setMaxChunkSize(64 * 1024)
                .setValidateHeaders(true)
                .setStrictLineParsing(true)
                .setAllowDuplicateContentLengths(false)
                .setUseRfc9112TransferEncoding(true);
        ChannelPipeline p = ch.pipeline();
        p.addLast("ssl", ssl.newHandler(ch.alloc()));
        p.addLast("decoder", new HttpRequestDecoder(decoding));
        p.addLast("encoder", new HttpResponseEncoder());
        p.addLast("headers", SecurityHeadersHandler.INSTANCE);
        p.addLast("guard", new RequestGuardHandler());
        p.addLast("auth", new AuthHandler(authenticator, sessions, loginPage, audit));
        p.addLast("login", new LoginPageHandler(authenticator, sessions, loginPage, audit));
        p.addLast("proxy", new ProxyHandler(upstream, channelType, USER, audit, upgradedIdle));
    }
}
