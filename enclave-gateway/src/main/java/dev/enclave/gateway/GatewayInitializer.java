package dev.enclave.gateway;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.auth.LockoutTracker;
import dev.enclave.gateway.proxy.ProxyHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * The gateway's pipeline, in order: TLS with ALPN; then either strict HTTP/1.x decoding (bare LF,
 * NUL, bad header names, CL+TE and oversized heads fail here) and encoding, or h2 with one child
 * channel per stream that converts frames to the same HTTP/1 objects; then, per HTTP/1.1
 * connection or per h2 stream, the same handlers: security headers on every response, the request
 * guard, Basic authentication, the reverse proxy. A source that is banned is dropped before the
 * TLS handshake.
 */
final class GatewayInitializer extends ChannelInitializer<SocketChannel> {
    static final AttributeKey<String> USER = AttributeKey.valueOf("enclave.user");

    private final SslContext ssl;
    private final Authenticator authenticator;
    private final LockoutTracker lockout;
    private final AuditLog audit;
    private final InetSocketAddress upstream;
    private final Class<? extends SocketChannel> channelType;
    private final int maxHeadBytes;
    private final Duration upgradedIdle;

    GatewayInitializer(SslContext ssl, Authenticator authenticator, LockoutTracker lockout, AuditLog audit,
                       InetSocketAddress upstream, Class<? extends SocketChannel> channelType, int maxHeadBytes,
                       Duration upgradedIdle) {
        this.ssl = ssl;
        this.authenticator = authenticator;
        this.lockout = lockout;
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
        ChannelPipeline p = ch.pipeline();
        p.addLast("ssl", ssl.newHandler(ch.alloc()));
        p.addLast("alpn", new ProtocolSwitch());
    }

    /**
     * The handlers every request passes, whether it came over HTTP/1.1 or as one h2 stream: both
     * paths hand them the same HTTP/1 message objects.
     */
    private void addRequestHandlers(ChannelPipeline p) {
        p.addLast("headers", SecurityHeadersHandler.INSTANCE);
        p.addLast("guard", new RequestGuardHandler());
        p.addLast("auth", new BasicAuthHandler(authenticator, audit));
        p.addLast("proxy", new ProxyHandler(upstream, channelType, USER, audit, upgradedIdle));
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
                p.addLast("h2", Http2Streams.frameCodec(maxHeadBytes));
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
            // Strict HTTP/1.x parsing: bare LF, NUL, bad header names, CL+TE and oversized heads fail here.
            HttpDecoderConfig decoding = new HttpDecoderConfig()
                    .setMaxInitialLineLength(8192)
                    .setMaxHeaderSize(maxHeadBytes)
                    .setMaxChunkSize(64 * 1024)
                    .setValidateHeaders(true)
                    .setStrictLineParsing(true)
                    .setAllowDuplicateContentLengths(false)
                    .setUseRfc9112TransferEncoding(true);
            p.addLast("decoder", new HttpRequestDecoder(decoding));
            p.addLast("encoder", new HttpResponseEncoder());
            addRequestHandlers(p);
        }
    }
}
