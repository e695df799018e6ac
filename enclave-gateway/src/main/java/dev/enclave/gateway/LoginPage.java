package dev.enclave.gateway;

import dev.enclave.gateway.session.CsrfTokens;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.List;

/**
 * The login form: one self-contained HTML page (no script, no external asset) that posts user name,
 * password, CSRF token and the page the user asked for to {@value #PATH}. Its own
 * Content-Security-Policy allows nothing but its one inline style (by hash) and posting to this
 * origin. A browser without a CSRF cookie gets one with the page.
 *
 * <p>For automated browsers the form is plain: inputs named and with ids {@code user} and
 * {@code password}, hidden {@code csrf} and {@code next}, and a submit button with id {@code login}.
 */
final class LoginPage {
    static final String PATH = "/.enclave/login";
    /** Longest {@code next} kept; anything longer goes to {@code /}. */
    static final int MAX_NEXT = 2048;
    private static final String STYLE = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}"
            + "main{max-width:22rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:8px;"
            + "box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.4rem;margin:0 0 1.2rem}"
            + "label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}"
            + "input{box-sizing:border-box;width:100%;padding:.5rem;font-size:1rem;border:1px solid #aab;border-radius:4px}"
            + "button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:4px;"
            + "background:#2457c5;color:#fff;cursor:pointer}#message{color:#a11;margin:0 0 .8rem}";
    static final String CSP = "default-src 'none'; style-src '" + sha256(STYLE) + "'; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'";

    private final CsrfTokens csrf;

    LoginPage(CsrfTokens csrf) {
        this.csrf = csrf;
    }

    /**
     * The page, answering {@code req}.
     *
     * @param next    where to go after logging in (made safe here)
     * @param user    the user name to fill in, or null
     * @param message one line above the form, or null
     */
    FullHttpResponse render(HttpRequest req, HttpResponseStatus status, String next, String user, String message) {
        String browserValue = csrfCookie(req);
        boolean fresh = browserValue == null;
        if (fresh) {
            browserValue = csrf.newBrowserValue();
        }
        String html = head("log in")
                + (message == null ? "" : "<p id=\"message\" role=\"alert\">" + escape(message) + "</p>\n")
                + "<form method=\"post\" action=\"" + PATH + "\">\n"
                + "<label for=\"user\">User name</label>\n"
                + "<input id=\"user\" name=\"user\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" "
                + "required" + (user == null ? " autofocus" : " value=\"" + escape(user) + "\"") + ">\n"
                + "<label for=\"password\">Password</label>\n"
                + "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required"
                + (user == null ? "" : " autofocus") + ">\n"
                + "<input type=\"hidden\" name=\"csrf\" value=\"" + csrf.tokenFor(browserValue) + "\">\n"
                + "<input type=\"hidden\" name=\"next\" value=\"" + escape(safeNext(next)) + "\">\n"
                + "<button id=\"login\" type=\"submit\">Log in</button>\n"
                + "</form>\n</main>\n</body>\n</html>\n";
        return respond(req, status, html, fresh ? browserValue : null);
    }

    /**
     * The question asked before a logout that another site started (a link or form elsewhere):
     * one button that posts to {@value LoginPageHandler#LOGOUT} with this browser's CSRF token,
     * so only a click on this page ends the session. Same style and policy as the login form.
     */
    FullHttpResponse renderLogoutConfirmation(HttpRequest req) {
        String browserValue = csrfCookie(req);
        boolean fresh = browserValue == null;
        if (fresh) {
            browserValue = csrf.newBrowserValue();
        }
        String html = head("log out")
                + "<p id=\"message\" role=\"alert\">Another site sent you here to log out. Log out of Enclave?</p>\n"
                + "<form method=\"post\" action=\"" + LoginPageHandler.LOGOUT + "\">\n"
                + "<input type=\"hidden\" name=\"csrf\" value=\"" + csrf.tokenFor(browserValue) + "\">\n"
                + "<button id=\"logout\" type=\"submit\">Log out</button>\n"
                + "</form>\n</main>\n</body>\n</html>\n";
        return respond(req, HttpResponseStatus.OK, html, fresh ? browserValue : null);
    }

    private static String head(String what) {
        return "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                + "<title>Enclave: " + what + "</title>\n<style>" + STYLE + "</style>\n</head>\n<body>\n<main>\n"
                + "<h1>Enclave</h1>\n";
    }

    /** {@code newCsrfValue}: set as the browser's CSRF cookie (it had none), or null. */
    private static FullHttpResponse respond(HttpRequest req, HttpResponseStatus status, String html, String newCsrfValue) {
        byte[] body = html.getBytes(StandardCharsets.UTF_8);
        boolean head = req.method().equals(HttpMethod.HEAD);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/html; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
        r.headers().set(HttpHeaderNames.CONTENT_SECURITY_POLICY, CSP);
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        r.headers().set(HttpHeaderNames.CONNECTION, "close");
        if (newCsrfValue != null) {
            r.headers().add(HttpHeaderNames.SET_COOKIE, GatewayCookies.set(GatewayCookies.CSRF, newCsrfValue));
        }
        return r;
    }

    /** The browser's CSRF cookie value when it has a well-formed one, else null. */
    static String csrfCookie(HttpRequest req) {
        List<String> values = GatewayCookies.values(req.headers(), GatewayCookies.CSRF);
        for (String v : values) {
            if (CsrfTokens.wellFormed(v)) {
                return v;
            }
        }
        return null;
    }

    /**
     * {@code candidate} when it is a path on this site that is safe to send a browser to after
     * logging in, else {@code /}. Only a path that starts with exactly one {@code /} qualifies:
     * {@code //host} and {@code /\host} are read by browsers as another host, and a scheme or
     * anything outside printable ASCII is not a local path. The gateway's own paths go to
     * {@code /} as well (logging in to be logged out is no use).
     */
    static String safeNext(String candidate) {
        if (candidate == null || candidate.length() < 1 || candidate.length() > MAX_NEXT || candidate.charAt(0) != '/') {
            return "/";
        }
        if (candidate.length() > 1 && (candidate.charAt(1) == '/' || candidate.charAt(1) == '\\')) {
            return "/";
        }
        for (int i = 0; i < candidate.length(); i++) {
            char c = candidate.charAt(i);
            if (c < 0x21 || c > 0x7e || c == '\\') {
                return "/";
            }
        }
        if (LoginPageHandler.isReserved(candidate)) {
            return "/";
        }
        return candidate;
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    private static String sha256(String text) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return "sha256-" + Base64.getEncoder().encodeToString(d);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
