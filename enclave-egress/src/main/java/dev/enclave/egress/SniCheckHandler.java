package dev.enclave.egress;

import dev.enclave.config.match.HostName;
import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import dev.enclave.egress.policy.Decision;
import dev.enclave.egress.policy.EgressPolicy;
import dev.enclave.egress.policy.Reason;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.SslClientHelloHandler;
import io.netty.util.concurrent.Future;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Sits in front of a freshly opened tunnel to a TLS port and holds the client's first bytes until
 * they are a complete ClientHello whose server name equals the CONNECT host. Then it removes itself
 * and the held bytes flow on unchanged; otherwise the tunnel is closed and the reason audited.
 *
 * <p>Not seen by this check, and stated in the docs: domain fronting (an allowed SNI with another
 * Host inside the encrypted stream) and Encrypted ClientHello.
 */
final class SniCheckHandler extends SslClientHelloHandler<Void> {
    private static final int MAX_CLIENT_HELLO = 64 * 1024;

    private final HostPort target;
    private final EgressPolicy policy;
    private final TunnelSession session;
    private final long timeoutMillis;
    private Decision admitted;
    private Decision decision;
    private ScheduledFuture<?> timeout;

    SniCheckHandler(HostPort target, EgressPolicy policy, TunnelSession session, long timeoutMillis) {
        super(MAX_CLIENT_HELLO);
        this.target = target;
        this.policy = policy;
        this.session = session;
        this.timeoutMillis = timeoutMillis;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        super.handlerAdded(ctx);
        // Until a ClientHello passes, no byte has gone through: a connection closed now is audited as refused.
        admitted = session.decision();
        session.decision(Decision.deny(Reason.NOT_TLS, "closed before a complete ClientHello"));
        timeout = ctx.executor().schedule(() -> {
            ctx.close();
        }, timeoutMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
        if (timeout != null) {
            timeout.cancel(false);
        }
        super.handlerRemoved0(ctx);
    }

    @Override
    protected Future<Void> lookup(ChannelHandlerContext ctx, ByteBuf clientHello) {
        if (clientHello == null) {
            decision = policy.notTls(target);
        } else {
            String sni;
            try {
                String raw = ClientHelloSni.extract(clientHello);
                sni = raw == null ? null : HostName.normalize(raw);
                session.sni(raw);
                decision = policy.checkSni(target, sni);
            } catch (ClientHelloSni.MalformedClientHello | HostSyntaxException e) {
                decision = policy.notTls(target);
            }
        }
        return ctx.executor().newSucceededFuture(null);
    }

    @Override
    protected void onLookupComplete(ChannelHandlerContext ctx, Future<Void> future) {
        if (decision.proceeds()) {
            session.decision(Tunnels.combine(admitted, decision));
            ctx.pipeline().remove(this);
        } else {
            session.decision(decision);
            ctx.close();
        }
    }
}
