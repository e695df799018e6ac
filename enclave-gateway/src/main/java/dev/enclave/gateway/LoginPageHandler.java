package dev.enclave.gateway;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.gateway.session.Session;
import dev.enclave.gateway.session.SessionStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The gateway's own paths; they never reach the app.
 * <ul>
 *   <li>{@code GET /.enclave/login?next=PATH}: the login form (200); a browser already logged in
 *       goes straight to {@code next}.</li>
 *   <li>{@code POST /.enclave/login}: the form ({@code user}, {@code password}, {@code csrf},
 *       {@code next}), at most {@value #MAX_FORM_BYTES} bytes. Refused first when another site sent
 *       it ({@code Origin} or {@code Sec-Fetch-Site}, when present) or its CSRF token is not the one
 *       for the browser's CSRF cookie (403, the form again); then the password is checked by the
 *       {@link Authenticator}, so lockout, ban-before-hash and the bounded hashing pool apply as
 *       for Basic. Right: a new session (a fresh token at every login; a session the browser
 *       already had ends) and 303 to {@code next}, which must be a path on this site. Wrong: the
 *       form again with one message that does not say whether the user exists (401). Banned: 403.
 *       Busy: 503.</li>
 *   <li>{@code GET} or {@code POST /logout}: ends the session on the server, removes the cookie,
 *       303 to the login form. When another site started the request ({@code Sec-Fetch-Site}
 *       {@code cross-site} or {@code same-site}, or a foreign {@code Origin}), it only shows a
 *       page asking to confirm, whose button posts {@code /logout} with the browser's CSRF token:
 *       a link elsewhere cannot log anyone out (the {@code SameSite=Strict} session cookie is not
 *       sent then, but the answer's cookie-clearing would still be taken). A POST with a valid CSRF
 *       token logs out whatever its origin; a request without these headers (curl, older
 *       browsers) or typed in the address bar ({@code none}) logs out as before.</li>
 *   <li>anything else under {@code /.enclave/}: 404.</li>
 * </ul>
 * Every answer closes the connection, after the request's body (bounded) has been read. Logins
 * and logouts are audited ({@code login} with method {@code form}, {@code logout}).
 *
 * <p>It sits right behind the {@link AuthHandler}, which lets the gateway's paths through one at
 * a time like any other request and attaches a user to every other request it lets through; a
 * request that reaches this handler with neither is refused here, so a mistake in front cannot send
 * an anonymous request to the app.
 */
final class LoginPageHandler extends ChannelInboundHandlerAdapter {
    static final String LOGOUT = "/logout";
    static final int MAX_FORM_BYTES = 8 * 1024;
    private static final String RESERVED_PREFIX = "/.enclave/";

    private final Authenticator authenticator;
    private final SessionStore sessions;
    private final LoginPage page;
    private final AuditLog audit;
    /** The gateway's own request being read, or null while requests go on to the app. */
    private HttpRequest current;
    private ByteBuf body;
    /** Answered (or answering): the connection closes, nothing more is read. */
    private boolean done;

    LoginPageHandler(Authenticator authenticator, SessionStore sessions, LoginPage page, AuditLog audit) {
        this.authenticator = authenticator;
        this.sessions = sessions;
        this.page = page;
        this.audit = audit;
    }

    /** True for a request target the gateway answers itself. */
    static boolean isReserved(String uri) {
        String path = pathOf(uri);
        return path.equals(LOGOUT) || path.equals("/.enclave") || path.startsWith(RESERVED_PREFIX);
    }

    private static String pathOf(String uri) {
        int q = uri.indexOf('?');
        return q < 0 ? uri : uri.substring(0, q);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (done) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest req) {
            if (!isReserved(req.uri())) {
                if (ctx.channel().attr(GatewayInitializer.USER).get() == null) {
                    ReferenceCountUtil.release(msg);
                    answer(ctx, Responses.text(HttpResponseStatus.UNAUTHORIZED, "enclave gateway: not logged in"));
                    return;
                }
                current = null;
                ctx.fireChannelRead(msg);
                return;
            }
            current = req;
            if (HttpUtil.getContentLength(req, 0L) > MAX_FORM_BYTES) {
                ReferenceCountUtil.release(msg);
                answer(ctx, tooLarge());
                return;
            }
            body = ctx.alloc().heapBuffer(256, MAX_FORM_BYTES);
        } else if (current == null) {
            ctx.fireChannelRead(msg); // body of a request on its way to the app
            return;
        }
        try {
            if (msg instanceof HttpContent c) {
                if (body.readableBytes() + c.content().readableBytes() > MAX_FORM_BYTES) {
                    answer(ctx, tooLarge());
                    return;
                }
                body.writeBytes(c.content());
                if (msg instanceof LastHttpContent) {
                    done = true;
                    byte[] form = ByteBufUtil.getBytes(body);
                    releaseBody();
                    dispatch(ctx, current, form);
                }
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void dispatch(ChannelHandlerContext ctx, HttpRequest req, byte[] form) {
        String path = pathOf(req.uri());
        HttpMethod m = req.method();
        if (path.equals(LoginPage.PATH)) {
            if (m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD)) {
                showForm(ctx, req);
            } else if (m.equals(HttpMethod.POST)) {
                login(ctx, req, form);
            } else {
                answer(ctx, notAllowed("GET, HEAD, POST"));
            }
        } else if (path.equals(LOGOUT)) {
            if (m.equals(HttpMethod.GET) || m.equals(HttpMethod.POST)) {
                if (!crossSite(req) || (m.equals(HttpMethod.POST) && sessions.csrf().matches(LoginPage.csrfCookie(req), csrfField(form)))) {
                    logout(ctx, req);
                } else {
                    // A link or form on another site: that alone must not log the browser out.
                    InetSocketAddress source = (InetSocketAddress) ctx.channel().remoteAddress();
                    audit.write(AuditEvent.of("gateway", "logout").put("source", source.getAddress().getHostAddress())
                            .put("result", "confirmation_asked").put("reason", "cross_site"));
                    answer(ctx, page.renderLogoutConfirmation(req));
                }
            } else {
                answer(ctx, notAllowed("GET, POST"));
            }
        } else {
            answer(ctx, Responses.text(HttpResponseStatus.NOT_FOUND, "enclave gateway: no such page"));
        }
    }

    private void showForm(ChannelHandlerContext ctx, HttpRequest req) {
        QueryStringDecoder query = new QueryStringDecoder(req.uri());
        List<String> nexts = query.parameters().get("next");
        String next = LoginPage.safeNext(nexts == null || nexts.size() != 1 ? null : nexts.get(0));
        if (sessionOf(req).isPresent()) {
            answer(ctx, seeOther(next));
            return;
        }
        String message = query.parameters().containsKey("logged_out") ? "You are logged out." : null;
        answer(ctx, page.render(req, HttpResponseStatus.OK, next, null, message));
    }

    private void login(ChannelHandlerContext ctx, HttpRequest req, byte[] formBytes) {
        InetSocketAddress source = (InetSocketAddress) ctx.channel().remoteAddress();
        String type = req.headers().get(HttpHeaderNames.CONTENT_TYPE, "");
        if (!type.toLowerCase(Locale.ROOT).strip().startsWith("application/x-www-form-urlencoded")) {
            answer(ctx, Responses.text(HttpResponseStatus.UNSUPPORTED_MEDIA_TYPE,
                    "enclave gateway: the login form is sent as application/x-www-form-urlencoded"));
            return;
        }
        LoginForm form;
        try {
            form = LoginForm.parse(formBytes);
        } catch (IllegalArgumentException e) {
            answer(ctx, Responses.text(HttpResponseStatus.BAD_REQUEST, "enclave gateway: " + e.getMessage()));
            return;
        } finally {
            Arrays.fill(formBytes, (byte) 0); // held the password
        }
        String next = LoginPage.safeNext(form.next());
        if (!sameOrigin(req)) {
            Arrays.fill(form.password(), '\0');
            audit(form.user(), source, "refused", "cross_site");
            answer(ctx, page.render(req, HttpResponseStatus.FORBIDDEN, next, null,
                    "This login came from another site and was refused. Log in here."));
            return;
        }
        if (!sessions.csrf().matches(LoginPage.csrfCookie(req), form.csrf())) {
            Arrays.fill(form.password(), '\0');
            audit(form.user(), source, "refused", "csrf");
            answer(ctx, page.render(req, HttpResponseStatus.FORBIDDEN, next, null,
                    "The login form had expired. Please log in again."));
            return;
        }
        List<String> oldTokens = GatewayCookies.values(req.headers(), GatewayCookies.SESSION);
        String user = form.user();
        authenticator.authenticate(source.getAddress(), user, form.password())
                .whenComplete((r, err) -> ctx.executor().execute(() -> decided(ctx, req, source, user, next, oldTokens, r, err)));
    }

    private void decided(ChannelHandlerContext ctx, HttpRequest req, InetSocketAddress source, String user, String next,
                         List<String> oldTokens, Authenticator.Result r, Throwable err) {
        if (err != null) {
            audit(user, source, "error", String.valueOf(err.getMessage()));
            answer(ctx, busy(req, next, "The gateway cannot check passwords right now; the operator sees why in the audit log."));
            return;
        }
        switch (r.outcome()) {
            case OK -> {
                Optional<String> credential;
                try {
                    credential = authenticator.credentialOf(user);
                } catch (UserFileException | IOException e) {
                    audit(user, source, "error", e.getMessage());
                    answer(ctx, busy(req, next, "The gateway cannot check passwords right now; the operator sees why in the audit log."));
                    return;
                }
                if (credential.isEmpty()) { // removed in the instant since the check
                    audit(user, source, "failure", "bad_credentials");
                    answer(ctx, page.render(req, HttpResponseStatus.UNAUTHORIZED, next, user, "Wrong user name or password."));
                    return;
                }
                oldTokens.forEach(sessions::revoke); // a fresh token at every login
                String token = sessions.create(user, credential.get());
                audit(user, source, "success", null);
                FullHttpResponse resp = seeOther(next);
                resp.headers().add(HttpHeaderNames.SET_COOKIE, GatewayCookies.set(GatewayCookies.SESSION, token));
                answer(ctx, resp);
            }
            case BAD_CREDENTIALS -> {
                audit(user, source, "failure", "bad_credentials");
                answer(ctx, page.render(req, HttpResponseStatus.UNAUTHORIZED, next, user, "Wrong user name or password."));
            }
            case BANNED -> {
                audit(user, source, "banned", "until " + r.until());
                answer(ctx, page.render(req, HttpResponseStatus.FORBIDDEN, next, user,
                        "Too many failed logins from your address. Try again after " + r.until() + "."));
            }
            case BUSY -> answer(ctx, busy(req, next, "Too many logins at once. Please try again in a second."));
            default -> throw new IllegalStateException(r.outcome().name());
        }
    }

    private void logout(ChannelHandlerContext ctx, HttpRequest req) {
        InetSocketAddress source = (InetSocketAddress) ctx.channel().remoteAddress();
        String user = null;
        for (String token : GatewayCookies.values(req.headers(), GatewayCookies.SESSION)) {
            Optional<String> ended = sessions.revoke(token);
            if (ended.isPresent()) {
                user = ended.get();
            }
        }
        audit.write(AuditEvent.of("gateway", "logout").put("user", user).put("source", source.getAddress().getHostAddress())
                .put("result", user != null ? "session_ended" : "no_session"));
        FullHttpResponse resp = seeOther(LoginPage.PATH + "?logged_out");
        resp.headers().add(HttpHeaderNames.SET_COOKIE, GatewayCookies.clear(GatewayCookies.SESSION));
        answer(ctx, resp);
    }

    /**
     * True when the browser says another site started the request: {@code Sec-Fetch-Site} other
     * than {@code same-origin} or {@code none} (typed in the address bar, a bookmark), or an
     * {@code Origin} other than this one. Neither header (curl, older browsers): false.
     */
    static boolean crossSite(HttpRequest req) {
        String origin = req.headers().get(HttpHeaderNames.ORIGIN);
        if (origin != null) {
            String host = req.headers().get(HttpHeaderNames.HOST);
            if (host == null || !origin.equalsIgnoreCase("https://" + host)) {
                return true;
            }
        }
        String site = req.headers().get("Sec-Fetch-Site");
        return site != null && !site.equalsIgnoreCase("same-origin") && !site.equalsIgnoreCase("none");
    }

    /** The {@code csrf} field of a posted logout form, or null. */
    private static String csrfField(byte[] form) {
        for (byte b : form) {
            if (b < 0x20 || b > 0x7e) {
                return null;
            }
        }
        try {
            List<String> values = new QueryStringDecoder(new String(form, java.nio.charset.StandardCharsets.US_ASCII), false)
                    .parameters().get("csrf");
            return values == null || values.size() != 1 ? null : values.get(0);
        } catch (IllegalArgumentException malformed) {
            return null;
        }
    }

    private Optional<Session> sessionOf(HttpRequest req) {
        return GatewayCookies.values(req.headers(), GatewayCookies.SESSION).stream().map(sessions::find)
                .flatMap(Optional::stream).findFirst();
    }

    /**
     * False when the browser says the form came from another site: an {@code Origin} other than
     * this one, or {@code Sec-Fetch-Site} other than {@code same-origin}. Absent headers (older
     * browsers, scripts) leave the decision to the CSRF token.
     */
    static boolean sameOrigin(HttpRequest req) {
        String origin = req.headers().get(HttpHeaderNames.ORIGIN);
        if (origin != null) {
            String host = req.headers().get(HttpHeaderNames.HOST);
            if (host == null || !origin.equalsIgnoreCase("https://" + host)) {
                return false;
            }
        }
        String site = req.headers().get("Sec-Fetch-Site");
        return site == null || site.equalsIgnoreCase("same-origin");
    }

    private FullHttpResponse busy(HttpRequest req, String next, String message) {
        FullHttpResponse resp = page.render(req, HttpResponseStatus.SERVICE_UNAVAILABLE, next, null, message);
        resp.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
        return resp;
    }

    private static FullHttpResponse seeOther(String location) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.SEE_OTHER);
        r.headers().set(HttpHeaderNames.LOCATION, location);
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        r.headers().set(HttpHeaderNames.CONNECTION, "close");
        return r;
    }

    private static FullHttpResponse tooLarge() {
        return Responses.text(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
                "enclave gateway: at most " + MAX_FORM_BYTES + " bytes may be sent to the login pages");
    }

    private static FullHttpResponse notAllowed(String allow) {
        FullHttpResponse r = Responses.text(HttpResponseStatus.METHOD_NOT_ALLOWED, "enclave gateway: use " + allow);
        r.headers().set(HttpHeaderNames.ALLOW, allow);
        return r;
    }

    private void answer(ChannelHandlerContext ctx, FullHttpResponse resp) {
        done = true;
        releaseBody();
        Responses.sendAndClose(ctx, resp);
    }

    private void audit(String user, InetSocketAddress source, String result, String reason) {
        audit.write(AuditEvent.of("gateway", "login").put("user", Authenticator.forAudit(user)).put("source", source.getAddress().getHostAddress())
                .put("result", result).put("reason", reason).put("method", "form"));
    }

    private void releaseBody() {
        if (body != null) {
            body.release();
            body = null;
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseBody();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseBody();
    }
}
