package dev.enclave.egress;

import dev.enclave.egress.policy.Decision;
import dev.enclave.egress.policy.Reason;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Assembles the pipeline of every accepted connection: client check and connection limit here,
 * then the head decoder and the request handler. The tunnel handlers are put in later by
 * {@link ConnectRequestHandler} at the protocol switch.
 */
final class EgressInitializer extends ChannelInitializer<SocketChannel> {
    private final Supplier<EgressRuntime> runtime;
    private final AtomicInteger open;

    EgressInitializer(Supplier<EgressRuntime> runtime, AtomicInteger open) {
        this.runtime = runtime;
        this.open = open;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        EgressRuntime rt = runtime.get();
        if (!rt.audit().healthy()) {
            // Fail closed: a proxy that cannot audit its decisions takes none.
            ch.close();
            return;
        }
        TunnelSession session = new TunnelSession(ch.remoteAddress(), rt.audit(), rt.policy().mode());
        ch.closeFuture().addListener(f -> session.finish());

        Decision client = rt.policy().checkClient(ch.remoteAddress().getAddress());
        if (!client.proceeds()) {
            session.decision(client);
            ch.close(); // not a client of ours: no reply at all
            return;
        }
        if (open.incrementAndGet() > rt.limits().maxConnections()) {
            open.decrementAndGet();
            session.decision(Decision.deny(Reason.TOO_MANY_CONNECTIONS, "limit " + rt.limits().maxConnections()));
            ch.close();
            return;
        }
        ch.closeFuture().addListener(f -> open.decrementAndGet());

        ch.pipeline()
                .addLast("head", new ProxyRequestDecoder(rt.limits().maxHeadBytes(), rt.limits().headTimeout().toMillis()))
                .addLast("request", new ConnectRequestHandler(rt, session));
    }
}
