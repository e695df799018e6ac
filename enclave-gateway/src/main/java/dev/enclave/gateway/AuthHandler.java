package dev.enclave.gateway;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.proxy.ExchangeDone;
import dev.enclave.gateway.proxy.ReadPauses;
import dev.enclave.gateway.session.Session;
import dev.enclave.gateway.session.SessionStore;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Who is asking, for every request: a browser session (the {@code __Host-enclave_session} cookie,
 * looked up in the {@link SessionStore}) or HTTP Basic credentials (API clients, {@code curl -u},
 * checked by the {@link Authenticator}). In this order:
 * <ol>
 *   <li>the gateway's own paths ({@code /.enclave/...}, {@code /logout}) go on as they are, with no
 *       user, to the {@link LoginPageHandler} right behind, which answers them;</li>
 *   <li>a valid session cookie: the request goes on as the session's user;</li>
 *   <li>{@code Authorization: Basic}: accepted, it goes on as that user; refused, the answer is 401,
 *       403 (banned) or 503 (busy);</li>
 *   <li>neither: a browser loading a page (GET or HEAD accepting {@code text/html}) gets the login
 *       page, 401 without a Basic challenge so that no password pop-up appears; another request
 *       from a browser (it sends {@code Sec-Fetch-*}) gets a plain 401; any other client 401 with
 *       {@code WWW-Authenticate: Basic}.</li>
 * </ol>
 * What goes on carries neither {@code Authorization} nor the gateway's cookies; the user name is
 * attached to the channel. While the Authenticator decides, reading stops and what arrives is
 * held; an accepted request goes on with its own head and body only, and each pipelined request
 * behind it is taken once the response before it is complete, then authenticated on its own. A
 * refusal closes the connection. Failures and bans are audited.
 *
 * <p>What is held is bounded: at most {@value #MAX_HELD_REQUESTS} request heads and
 * {@value #MAX_HELD_BODY_BYTES} body bytes (reading is paused meanwhile, so only what one read
 * brought can be held; a client that sends more than that ahead of its answers gets 503 after the
 * response in progress, and the connection closes).
 */
final class AuthHandler extends ChannelInboundHandlerAdapter {
    private static final String CHALLENGE = "Basic realm=\"Enclave\", charset=\"UTF-8\"";
    private final Authenticator authenticator;
    private final SessionStore sessions;
    private final LoginPage loginPage;
    private final AuditLog audit;
    private final Duration sessionRecheck;
    /** Heads held (the one being authenticated included): a client may pipeline this many requests ahead. */
    static final int MAX_HELD_REQUESTS = 16;
    /** Body bytes held; above one read's worth (64 KiB of TLS records), so an upload with Basic credentials fits. */
    static final int MAX_HELD_BODY_BYTES = 256 * 1024;
    private final List<Object> held = new ArrayList<>();
    private int heldRequests;
    private long heldBodyBytes;
    /** Held more than allowed: 503 once the response in progress is complete. */
    private boolean overflowed;
    private boolean pending;
    private boolean inFlight;
    private boolean refused;

    AuthHandler(Authenticator authenticator, SessionStore sessions, LoginPage loginPage, AuditLog audit,
                Duration sessionRecheck) {
        this.authenticator = authenticator;
        this.sessionRecheck = sessionRecheck;
        this.sessions = sessions;
        this.loginPage = loginPage;
        this.audit = audit;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (refused) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (pending || !held.isEmpty()) {
            hold(ctx, msg); // keeps arrival order behind a request that waits
            return;
        }
        if (!(msg instanceof HttpRequest req)) {
            ctx.fireChannelRead(msg); // body of the request in flight
            return;
        }
        if (inFlight) {
            // Pipelined: taken once the response before it is complete, so answers stay in order.
            ReadPauses.pause(ctx.channel(), ReadPauses.Reason.AUTH_HOLDING);
            hold(ctx, msg);
            return;
        }
        ctx.channel().attr(GatewayInitializer.USER).set(null);
        if (LoginPageHandler.isReserved(req.uri())) {
            inFlight = true;
            ctx.fireChannelRead(req);
            return;
        }
        List<String> cookies = GatewayCookies.values(req.headers(), GatewayCookies.SESSION);
        Optional<Session> session = Optional.empty();
        String token = null;
        for (String candidate : cookies) {
            session = sessions.find(candidate);
            if (session.isPresent()) {
                token = candidate;
                break;
            }
        }
        GatewayCookies.removeOurs(req.headers());
        String header = req.headers().get(HttpHeaderNames.AUTHORIZATION);
        req.headers().remove(HttpHeaderNames.AUTHORIZATION);
        if (session.isPresent()) {
            ctx.channel().attr(GatewayInitializer.USER).set(session.get().user());
            if (req.headers().contains(HttpHeaderNames.UPGRADE)) {
                // After the upgrade no request comes to be checked: watch the session instead.
                SessionWatch.start(ctx.channel(), sessions, token, session.get().user(), sessionRecheck, audit);
            }
            inFlight = true;
            ctx.fireChannelRead(req);
            return;
        }
        String[] credentials = parse(header);
        if (credentials == null) {
            refuse(ctx, unauthenticated(req, !cookies.isEmpty()));
            ReferenceCountUtil.release(msg);
            return;
        }
        String user = credentials[0];
        char[] password = credentials[1].toCharArray();
        credentials[1] = null;
        pending = true;
        held.add(req);
        ReadPauses.pause(ctx.channel(), ReadPauses.Reason.AUTH_HOLDING);
        InetSocketAddress source = (InetSocketAddress) ctx.channel().remoteAddress();
        authenticator.authenticate(source.getAddress(), user, password)
                .whenComplete((r, err) -> ctx.executor().execute(() -> decided(ctx, user, source, r, err)));
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ExchangeDone && overflowed) {
            overflowed = false;
            inFlight = false;
            refuseOverflow(ctx);
        } else if (evt instanceof ExchangeDone) {
            inFlight = false;
            List<Object> next = new ArrayList<>(held);
            clearHeld();
            for (Object o : next) {
                channelRead(ctx, o);
            }
            if (!next.isEmpty()) {
                ctx.fireChannelReadComplete(); // the read that brought them ended long ago: flush what went on now
            }
            if (!pending && !refused && held.isEmpty()) {
                ReadPauses.resume(ctx.channel(), ReadPauses.Reason.AUTH_HOLDING);
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    private void decided(ChannelHandlerContext ctx, String user, InetSocketAddress source, Authenticator.Result r, Throwable err) {
        pending = false;
        if (err != null) {
            audit(user, source, "error", String.valueOf(err.getMessage()));
            refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "the users file cannot be read; the operator sees why in the audit log");
            return;
        }
        switch (r.outcome()) {
            case OK -> {
                if (held.isEmpty()) {
                    return; // the client left (or reset its h2 stream) while the password was checked
                }
                ctx.channel().attr(GatewayInitializer.USER).set(user);
                if (held.get(0) instanceof HttpRequest req && req.headers().contains(HttpHeaderNames.UPGRADE)) {
                    // After the upgrade no request comes to be checked: watch the credentials instead.
                    SessionWatch.start(ctx.channel(), authenticator, user, r.credential(), sessionRecheck, audit);
                }
                List<Object> go = new ArrayList<>(held);
                clearHeld();
                inFlight = true;
                // Only this request's head and body go on. A request pipelined behind it waits
                // (held, reading paused) until this response is complete, then is authenticated
                // on its own.
                int i = 0;
                do {
                    ctx.fireChannelRead(go.get(i++));
                } while (i < go.size() && !(go.get(i) instanceof HttpRequest));
                ctx.fireChannelReadComplete();
                go.subList(i, go.size()).forEach(o -> hold(ctx, o));
                if (held.isEmpty()) {
                    ReadPauses.resume(ctx.channel(), ReadPauses.Reason.AUTH_HOLDING);
                }
            }
            case BAD_CREDENTIALS -> {
                audit(user, source, "failure", "bad_credentials");
                refuse(ctx, HttpResponseStatus.UNAUTHORIZED, "wrong user name or password");
            }
            case BANNED -> {
                audit(user, source, "banned", "until " + r.until());
                refuse(ctx, HttpResponseStatus.FORBIDDEN, "too many failed logins from your address; try again after " + r.until());
            }
            case BUSY -> refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "too many logins at once; retry in a second");
            default -> throw new IllegalStateException(r.outcome().name());
        }
    }

    /** Holds {@code msg}; past the bounds, lets go of everything held and refuses the connection. */
    private void hold(ChannelHandlerContext ctx, Object msg) {
        if (refused) {
            ReferenceCountUtil.release(msg);
            return;
        }
        held.add(msg);
        if (msg instanceof HttpRequest) {
            heldRequests++;
        } else if (msg instanceof HttpContent c) {
            heldBodyBytes += c.content().readableBytes();
        }
        if (heldRequests > MAX_HELD_REQUESTS || heldBodyBytes > MAX_HELD_BODY_BYTES) {
            held.forEach(ReferenceCountUtil::release);
            clearHeld();
            if (inFlight) {
                refused = true; // drops what comes next; the 503 follows the response in progress
                overflowed = true;
            } else {
                refuseOverflow(ctx);
            }
        }
    }

    private void refuseOverflow(ChannelHandlerContext ctx) {
        refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "too many pipelined requests or too much pipelined data;"
                + " send the next request once the answer before it has arrived");
    }

    /** Empties {@code held} without releasing: the caller has taken what it held. */
    private void clearHeld() {
        held.clear();
        heldRequests = 0;
        heldBodyBytes = 0;
    }

    /** The answer to a request that came with no credentials (or none that could be read). */
    private FullHttpResponse unauthenticated(HttpRequest req, boolean hadSessionCookie) {
        if (isPageLoad(req)) {
            return loginPage.render(req, HttpResponseStatus.UNAUTHORIZED, req.uri(), null,
                    hadSessionCookie ? "Your session has ended. Please log in again." : null);
        }
        FullHttpResponse resp = Responses.text(HttpResponseStatus.UNAUTHORIZED,
                "enclave gateway: log in with your Enclave user name and password");
        if (!fromBrowser(req)) {
            resp.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, CHALLENGE);
        }
        return resp;
    }

    /** A browser navigating to a page: it can show the login form instead. */
    static boolean isPageLoad(HttpRequest req) {
        HttpMethod m = req.method();
        String accept = req.headers().get(HttpHeaderNames.ACCEPT);
        return (m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD)) && accept != null
                && accept.toLowerCase(Locale.ROOT).contains("text/html");
    }

    /**
     * Browsers send {@code Sec-Fetch-*} on every request and show a password pop-up for a Basic
     * challenge; a script's request answered that way would open one over the app.
     */
    static boolean fromBrowser(HttpRequest req) {
        return req.headers().contains("Sec-Fetch-Mode") || req.headers().contains("Sec-Fetch-Site");
    }

    private void refuse(ChannelHandlerContext ctx, HttpResponseStatus status, String why) {
        FullHttpResponse resp = Responses.text(status, "enclave gateway: " + why);
        if (status == HttpResponseStatus.UNAUTHORIZED) {
            resp.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, CHALLENGE);
        } else if (status == HttpResponseStatus.SERVICE_UNAVAILABLE) {
            resp.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
        }
        refuse(ctx, resp);
    }

    private void refuse(ChannelHandlerContext ctx, FullHttpResponse resp) {
        refused = true;
        held.forEach(ReferenceCountUtil::release);
        held.clear();
        Responses.sendAndClose(ctx, resp);
    }

    private void audit(String user, InetSocketAddress source, String result, String reason) {
        audit.write(AuditEvent.of("gateway", "login").put("user", Authenticator.forAudit(user)).put("source", source.getAddress().getHostAddress())
                .put("result", result).put("reason", reason).put("method", "basic"));
    }

    /** {user, password} from a Basic header, or null when absent or malformed. */
    static String[] parse(String header) {
        if (header == null || !header.regionMatches(true, 0, "Basic ", 0, 6)) {
            return null;
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(header.substring(6).strip());
        } catch (IllegalArgumentException e) {
            return null;
        }
        CharBuffer chars;
        try {
            chars = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(raw));
        } catch (CharacterCodingException e) {
            return null;
        } finally {
            Arrays.fill(raw, (byte) 0);
        }
        String s = chars.toString();
        int colon = s.indexOf(':');
        if (colon <= 0) {
            return null;
        }
        return new String[] {s.substring(0, colon), s.substring(colon + 1)};
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        held.forEach(ReferenceCountUtil::release);
        held.clear();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        held.forEach(ReferenceCountUtil::release); // after a WebSocket upgrade nothing HTTP is left to run
        held.clear();
    }
}
