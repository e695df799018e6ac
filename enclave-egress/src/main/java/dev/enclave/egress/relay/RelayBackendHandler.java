package dev.enclave.egress.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;

/**
 * Upstream side of one pooled connection: hands each response part to the
 * {@link RelayFrontendHandler} the connection is lent to, and knows whether the connection can
 * carry another request. Data on a connection nobody is using means the two sides disagree about
 * its state: it is closed, never given to the next call.
 */
final class RelayBackendHandler extends ChannelInboundHandlerAdapter {
    private final RelayUpstream pool;
    private Channel channel;
    private RelayFrontendHandler owner;
    private boolean interim;
    private boolean reusable = true;
    private long idleSince = System.nanoTime();
    private boolean reused;

    RelayBackendHandler(RelayUpstream pool) {
        this.pool = pool;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    Channel channel() {
        return channel;
    }

    /** Whether this is one HTTP/2 stream of a shared connection (never pooled itself: the connection is). */
    boolean http2() {
        return channel instanceof Http2StreamChannel;
    }

    /** Whether the call got an existing connection (pooled HTTP/1.1, or a new stream on an open h2 connection). */
    boolean reused() {
        return reused;
    }

    void reused(boolean r) {
        reused = r;
    }

    long idleSince() {
        return idleSince;
    }

    void bind(RelayFrontendHandler owner) {
        this.owner = owner;
    }

    void unbind() {
        owner = null;
        idleSince = System.nanoTime();
        channel.config().setAutoRead(true); // an idle connection keeps reading, so a close is noticed at once
    }

    /** Whether every response so far ended cleanly and allowed another request. */
    boolean reusable() {
        return reusable && !interim && channel.isActive() && !http2();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (owner == null) {
            ReferenceCountUtil.release(msg);
            reusable = false;
            ctx.close();
            return;
        }
        if (msg instanceof HttpResponse r) {
            int code = r.status().code();
            if (r.decoderResult().isFailure() || code == 101) {
                // Not HTTP we can pass on: a head that did not parse, or a protocol switch the relay
                // never asked for (Upgrade is stripped). The client gets a 502 from the close.
                ReferenceCountUtil.release(msg);
                reusable = false;
                ctx.close();
                return;
            }
            interim = code < 200;
            if (!interim && !HttpUtil.isKeepAlive(r)) {
                reusable = false;
            }
            owner.responseHead(r, interim);
        }
        if (msg instanceof HttpContent c) {
            boolean last = c instanceof LastHttpContent;
            boolean endsExchange = last && !interim;
            if (last && interim) {
                interim = false;
            }
            if (c.decoderResult().isFailure()) {
                reusable = false;
            }
            owner.responseContent(c, endsExchange);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (owner != null) {
            owner.flushClient();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (owner != null) {
            owner.upstreamWritabilityChanged();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        reusable = false;
        if (owner != null) {
            owner.upstreamClosed(this);
        } else {
            pool.remove(this);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        reusable = false;
        ctx.close();
    }
}
