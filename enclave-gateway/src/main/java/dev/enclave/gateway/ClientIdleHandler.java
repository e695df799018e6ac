package dev.enclave.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Closes an HTTP connection whose client has gone quiet while it is the client's turn: no whole
 * request head (a slow-loris sender never completes one, and partial heads do not count as
 * reads here, behind the decoder), no body bytes of a request it is sending, or nothing at all
 * on an idle keep-alive connection. While the app is answering, the client owes nothing, so a
 * long poll or a slow response is never cut (the seed's 60 s {@code proxy_read_timeout} was).
 * A WebSocket connection drops this handler at the upgrade and gets its own, longer idle
 * timeout.
 */
final class ClientIdleHandler extends IdleStateHandler {
    private int requestsStarted;
    private int requestsComplete;
    private int responsesComplete;
    /** An informational response (100 Continue) was written: its end marker does not complete a response. */
    private boolean informational;

    ClientIdleHandler(Duration idle) {
        super(idle.toMillis(), 0, 0, TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof HttpRequest) {
            requestsStarted++;
        }
        if (msg instanceof LastHttpContent) {
            requestsComplete++;
        }
        super.channelRead(ctx, msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (msg instanceof HttpResponse r) {
            informational = r.status().codeClass() == HttpStatusClass.INFORMATIONAL;
        }
        if (msg instanceof LastHttpContent) {
            if (informational) {
                informational = false; // the final response to the same request follows
            } else {
                responsesComplete++;
            }
        }
        super.write(ctx, msg, promise);
    }

    @Override
    protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) {
        boolean sendingBody = requestsStarted > requestsComplete;
        boolean appAnswering = !sendingBody && requestsComplete > responsesComplete;
        if (!appAnswering) {
            ctx.close();
        }
    }
}
