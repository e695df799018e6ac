package dev.enclave.egress;

import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import dev.enclave.egress.policy.Decision;
import dev.enclave.egress.policy.Reason;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Takes the one request head of a connection and turns it into a tunnel or a refusal:
 * target syntax, then {@link dev.enclave.egress.policy.EgressPolicy} (name, then every resolved
 * address), then a connection to exactly the address that was checked. On success it replaces
 * itself and the head decoder with the tunnel handlers (a protocol switch); on refusal it answers
 * with a short error and closes.
 */
final class ConnectRequestHandler extends SimpleChannelInboundHandler<Object> {
    /** Hop-by-hop and proxy-only headers never forwarded on plain HTTP. */
    private static final Set<String> HOP_BY_HOP = Set.of("connection", "proxy-connection", "keep-alive",
            "proxy-authorization", "proxy-authenticate", "te", "trailer", "upgrade");
    private static final Set<String> FORWARD_METHODS = Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH");
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(64 * 1024, 256 * 1024);

    private final EgressRuntime rt;
    private final TunnelSession session;
    private Channel upstream;
    private boolean requestSeen;
    private boolean clientInputDone;

    ConnectRequestHandler(EgressRuntime rt, TunnelSession session) {
        super(false);
        this.rt = rt;
        this.session = session;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof RequestError err) {
            refuse(ctx, Decision.deny(err.reason(), err.detail()));
            return;
        }
        if (!(msg instanceof ProxyRequest req)) {
            // Only bytes after a decided head can get here; they wait in the decoder, not here.
            io.netty.util.ReferenceCountUtil.release(msg);
            return;
        }
        requestSeen = true;
        session.request(req.method(), req.target());
        if (req.method().equals("CONNECT")) {
            HostPort target;
            try {
                target = HostPort.parse(req.target());
            } catch (HostSyntaxException e) {
                refuse(ctx, hostRefusal(e));
                return;
            }
            admit(ctx, target, null);
            return;
        }
        if (!FORWARD_METHODS.contains(req.method())) {
            refuse(ctx, Decision.deny(Reason.METHOD_NOT_ALLOWED, req.method() + " is not forwarded"));
            return;
        }
        ForwardTarget fwd;
        try {
            fwd = ForwardTarget.parse(req);
        } catch (HostSyntaxException e) {
            refuse(ctx, hostRefusal(e));
            return;
        } catch (ForwardTarget.Refusal e) {
            refuse(ctx, Decision.deny(e.reason, e.getMessage()));
            return;
        }
        admit(ctx, fwd.target(), fwd.rewrittenHead(req));
    }

    /** Name check, resolution, address check, connect. {@code forwardHead} is null for CONNECT. */
    private void admit(ChannelHandlerContext ctx, HostPort target, byte[] forwardHead) {
        Decision byName = rt.policy().checkName(target);
        if (!byName.proceeds()) {
            refuse(ctx, byName);
            return;
        }
        ResolvePin pin = rt.policy().pinFor(target);
        if (pin != null) {
            connectFirstAllowed(ctx, target, byName, EgressResolver.pinned(pin, target), forwardHead);
            return;
        }
        rt.resolver().resolve(target, ctx.channel().eventLoop()).addListener((Future<List<InetSocketAddress>> f) -> {
            if (!ctx.channel().isActive()) {
                return;
            }
            if (!f.isSuccess() || f.getNow().isEmpty()) {
                String why = f.cause() == null ? "no addresses" : String.valueOf(f.cause().getMessage());
                refuse(ctx, Decision.deny(Reason.DNS_FAILED, target.host() + ": " + why));
                return;
            }
            connectFirstAllowed(ctx, target, byName, f.getNow(), forwardHead);
        });
    }

    private void connectFirstAllowed(ChannelHandlerContext ctx, HostPort target, Decision byName,
                                     List<InetSocketAddress> addresses, byte[] forwardHead) {
        Decision firstRefusal = null;
        for (InetSocketAddress address : addresses) {
            Decision byAddress = rt.policy().checkAddress(address);
            if (byAddress.proceeds()) {
                connect(ctx, target, Tunnels.combine(byName, byAddress), address, forwardHead);
                return;
            }
            if (firstRefusal == null) {
                firstRefusal = byAddress;
            }
        }
        session.destination(addresses.get(0));
        refuse(ctx, firstRefusal);
    }

    private void connect(ChannelHandlerContext ctx, HostPort target, Decision admitted,
                         InetSocketAddress address, byte[] forwardHead) {
        session.destination(address);
        Channel client = ctx.channel();
        Bootstrap b = new Bootstrap()
                .group(client.eventLoop())
                .channel(rt.channelType())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) rt.limits().connectTimeout().toMillis())
                .handler(new UpstreamInitializer(client, session, forwardHead == null));
        ChannelFuture cf = b.connect(address);
        upstream = cf.channel();
        cf.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                if (client.isActive()) {
                    refuse(ctx, Decision.deny(Reason.CONNECT_FAILED, address.getAddress().getHostAddress() + ":"
                            + address.getPort() + ": " + rootMessage(f.cause())));
                }
                return;
            }
            if (!client.isActive()) {
                f.channel().close();
                return;
            }
            session.decision(admitted);
            if (forwardHead == null) {
                ByteBuf ok = ctx.alloc().buffer(64);
                ok.writeCharSequence("HTTP/1.1 200 Connection established\r\n\r\n", StandardCharsets.US_ASCII);
                client.writeAndFlush(ok);
            } else {
                f.channel().writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(forwardHead));
            }
            TunnelIdleTimer idle = new TunnelIdleTimer(client, f.channel(), rt.limits().idleTimeout().toNanos());
            f.channel().pipeline().get(TunnelBackendHandler.class).idleTimer(idle);
            switchToTunnel(ctx, target, forwardHead == null && rt.policy().requiresTls(target.port()), idle);
            idle.start();
            TunnelBackendHandler.start(f.channel());
            if (clientInputDone) {
                Tunnels.forwardInputShutdown(client, f.channel());
            }
        });
    }

    /** CONNECT or forward accepted: from here on the client's bytes are opaque. */
    private void switchToTunnel(ChannelHandlerContext ctx, HostPort target, boolean checkSni, TunnelIdleTimer idle) {
        ChannelPipeline p = ctx.pipeline();
        if (checkSni) {
            p.addLast("sni", new SniCheckHandler(target, rt.policy(), session, rt.limits().headTimeout().toMillis()));
        }
        p.addLast("tunnel", new TunnelFrontendHandler(upstream, session, idle));
        p.remove(this);
        // Removing the decoder hands any bytes the client sent after the head to the handlers above.
        p.remove(ProxyRequestDecoder.class);
    }

    private void refuse(ChannelHandlerContext ctx, Decision decision) {
        session.decision(decision);
        if (upstream != null) {
            upstream.close();
        }
        ErrorResponse.send(ctx, decision);
        // Lingering close: keep reading (and discarding) what the client is still sending, so
        // the error reply is not lost to a TCP reset caused by unread data.
        ChannelPipeline p = ctx.pipeline();
        p.addLast("linger", new LingeringCloseHandler());
        p.remove(this);
        if (p.get(ProxyRequestDecoder.class) != null) {
            p.remove(ProxyRequestDecoder.class);
        }
        ctx.channel().config().setAutoRead(true);
    }

    private static Decision hostRefusal(HostSyntaxException e) {
        return Decision.deny(e.kind() == HostSyntaxException.Kind.IP_LITERAL ? Reason.IP_LITERAL : Reason.MALFORMED_HOST,
                e.getMessage());
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return String.valueOf(t.getMessage());
    }

    /** The client finished sending: before a head that ends the connection; after one, it is passed on once the tunnel is up. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            if (requestSeen) {
                clientInputDone = true;
            } else {
                ctx.close();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (upstream != null) {
            upstream.close();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Fail closed: an unexpected error ends the connection; the audit line says why.
        if (session.decision() == null) {
            session.decision(Decision.deny(Reason.BAD_REQUEST, "internal error: " + rootMessage(cause)));
        }
        ctx.close();
    }

    /** Absolute-form {@code http://host[:port]/path} request, checked against its Host header. */
    record ForwardTarget(HostPort target, String originForm) {
        static final class Refusal extends Exception {
            private static final long serialVersionUID = 1L;
            final transient Reason reason;

            Refusal(Reason reason, String message) {
                super(message, null, false, false);
                this.reason = reason;
            }
        }

        static ForwardTarget parse(ProxyRequest req) throws HostSyntaxException, Refusal {
            String uri = req.target();
            if (uri.regionMatches(true, 0, "https://", 0, 8)) {
                throw new Refusal(Reason.BAD_REQUEST, "https:// in a plain request; use CONNECT for TLS");
            }
            if (!uri.regionMatches(true, 0, "http://", 0, 7)) {
                throw new Refusal(Reason.BAD_REQUEST, "request target must be absolute-form http://host/path or CONNECT host:port");
            }
            int slash = indexOfAny(uri, 7);
            String authority = uri.substring(7, slash);
            String rest = slash == uri.length() ? "/" : uri.substring(slash);
            if (!rest.startsWith("/")) {
                rest = "/" + rest;
            }
            if (rest.indexOf('#') >= 0) {
                throw new Refusal(Reason.BAD_REQUEST, "fragment in request target");
            }
            HostPort target = authority.contains("@") || authority.startsWith("[") || authority.lastIndexOf(':') >= 0
                    ? HostPort.parse(authority)
                    : HostPort.parse(authority + ":80");
            List<String> hosts = req.values("Host");
            if (hosts.size() > 1) {
                throw new Refusal(Reason.BAD_REQUEST, "more than one Host header");
            }
            if (hosts.size() == 1) {
                String h = hosts.get(0);
                HostPort named;
                try {
                    named = h.lastIndexOf(':') >= 0 && !h.endsWith("]") ? HostPort.parse(h) : HostPort.parse(h + ":80");
                } catch (HostSyntaxException e) {
                    named = null;
                }
                if (!target.equals(named)) {
                    throw new Refusal(Reason.HOST_HEADER_MISMATCH, "Host '" + h + "' differs from the request target " + target);
                }
            }
            List<String> lengths = req.values("Content-Length");
            List<String> codings = req.values("Transfer-Encoding");
            if (lengths.size() > 1 || (!lengths.isEmpty() && !codings.isEmpty())) {
                throw new Refusal(Reason.BAD_REQUEST, "ambiguous body length (Content-Length with Transfer-Encoding, or twice)");
            }
            if (!lengths.isEmpty() && !lengths.get(0).matches("[0-9]{1,18}")) {
                throw new Refusal(Reason.BAD_REQUEST, "bad Content-Length");
            }
            if (!codings.isEmpty() && !(codings.size() == 1 && codings.get(0).equalsIgnoreCase("chunked"))) {
                throw new Refusal(Reason.BAD_REQUEST, "only Transfer-Encoding: chunked is forwarded");
            }
            return new ForwardTarget(target, rest);
        }

        /** The head sent upstream: origin-form, one Host, no hop-by-hop headers, one request per connection. */
        byte[] rewrittenHead(ProxyRequest req) {
            StringBuilder b = new StringBuilder(256);
            b.append(req.method()).append(' ').append(originForm).append(" HTTP/1.1\r\n");
            b.append("Host: ").append(target.host());
            if (target.port() != 80) {
                b.append(':').append(target.port());
            }
            b.append("\r\n");
            for (Map.Entry<String, String> h : req.headers()) {
                String name = h.getKey().toLowerCase(Locale.ROOT);
                if (!name.equals("host") && !HOP_BY_HOP.contains(name)) {
                    b.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
                }
            }
            b.append("Connection: close\r\n\r\n");
            return b.toString().getBytes(StandardCharsets.UTF_8);
        }

        private static int indexOfAny(String s, int from) {
            for (int i = from; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '/' || c == '?' || c == '#') {
                    return i;
                }
            }
            return s.length();
        }
    }
}
