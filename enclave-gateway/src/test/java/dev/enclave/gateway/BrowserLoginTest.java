package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.gateway.auth.UserStore;
import dev.enclave.gateway.testing.ManualClock;
import java.io.IOException;
import java.net.CookieManager;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The browser login end to end: real TLS, the JDK HTTP client (with a cookie jar where a browser
 * would keep one) or raw TLS sockets, a real app behind the gateway, and the gateway's clock moved
 * by hand for the session timeouts.
 */
class BrowserLoginTest {
    private static final String PASS = "a long passphrase";
    private static final String HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    private static final Pattern SESSION_COOKIE = Pattern.compile(
            "__Host-enclave_session=([A-Za-z0-9_-]{43}); Path=/; Secure; HttpOnly; SameSite=Strict");
    private static final Pattern CSRF_COOKIE = Pattern.compile(
            "__Host-enclave_csrf=([A-Za-z0-9_-]{43}); Path=/; Secure; HttpOnly; SameSite=Strict");
    private static final Pattern CSRF_FIELD = Pattern.compile("<input type=\"hidden\" name=\"csrf\" value=\"([^\"]+)\">");

    @TempDir
    Path state;

    private final ManualClock clock = new ManualClock();
    private final AtomicInteger appRequests = new AtomicInteger();
    private final AtomicReference<String> seen = new AtomicReference<>();
    private HttpServer app;
    private GatewayServer gateway;
    private AuditLog audit;
    private InetSocketAddress address;

    @BeforeEach
    void start() throws Exception {
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            appRequests.incrementAndGet();
            seen.set("path=" + ex.getRequestURI() + " user=" + ex.getRequestHeaders().getFirst("X-Forwarded-User")
                    + " cookie=" + ex.getRequestHeaders().get("Cookie") + " auth=" + ex.getRequestHeaders().getFirst("Authorization"));
            byte[] body = "hello from the app".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.start();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = startGateway();
    }

    private GatewayServer startGateway() throws Exception {
        GatewayServer g = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.getAddress().getPort()), state.resolve("users"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 3, Duration.ofMinutes(10), Duration.ofHours(1),
                null, Duration.ofHours(8), Duration.ofHours(24)), audit, System.err::println, clock);
        address = g.start();
        return g;
    }

    @AfterEach
    void stop() {
        gateway.close();
        app.stop(0);
        audit.close();
    }

    // ---- what a browser without a session sees -----------------------------------------------

    @Test
    void aBrowserWithoutASessionGetsTheLoginPageWithoutABasicChallenge() throws Exception {
        HttpResponse<String> r = send(get("/projects/42?tab=files").header("Accept", HTML));
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("WWW-Authenticate")).isEmpty();
        assertThat(r.headers().firstValue("Content-Type")).contains("text/html; charset=utf-8");
        assertThat(r.headers().firstValue("Cache-Control")).contains("no-store");
        assertThat(r.headers().firstValue("Strict-Transport-Security")).isPresent();
        assertThat(r.headers().allValues("Set-Cookie")).singleElement().asString().matches(CSRF_COOKIE);
        assertThat(r.body())
                .contains("<form method=\"post\" action=\"/.enclave/login\">")
                .contains("<input id=\"user\" name=\"user\"")
                .contains("<input id=\"password\" name=\"password\" type=\"password\"")
                .contains("<input type=\"hidden\" name=\"next\" value=\"/projects/42?tab=files\">")
                .contains("<button id=\"login\" type=\"submit\">")
                .containsPattern(CSRF_FIELD);
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void theLoginPageLoadsNothingFromElsewhereAndItsPolicyAllowsOnlyItsOwnStyle() throws Exception {
        HttpResponse<String> r = send(get("/").header("Accept", HTML));
        String csp = r.headers().firstValue("Content-Security-Policy").orElseThrow();
        Matcher style = Pattern.compile("<style>(.*?)</style>", Pattern.DOTALL).matcher(r.body());
        assertThat(style.find()).isTrue();
        String hash = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256")
                .digest(style.group(1).getBytes(StandardCharsets.UTF_8)));
        assertThat(csp).isEqualTo("default-src 'none'; style-src 'sha256-" + hash + "'; form-action 'self'; "
                + "frame-ancestors 'none'; base-uri 'none'");
        assertThat(r.body()).doesNotContain("<script").doesNotContain("http://").doesNotContain("https://")
                .doesNotContain(" style=");
    }

    @Test
    void headGetsTheLoginPagesHeadersWithoutItsBody() throws Exception {
        HttpResponse<String> r = send(get("/").method("HEAD", HttpRequest.BodyPublishers.noBody()).header("Accept", HTML));
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValueAsLong("Content-Length").orElseThrow()).isGreaterThan(500);
        assertThat(r.body()).isEmpty();
    }

    @Test
    void otherClientsStillGetTheBasicChallengeAndBasicStillWorks() throws Exception {
        HttpResponse<String> api = send(get("/v1/thing").header("Accept", "application/json"));
        assertThat(api.statusCode()).isEqualTo(401);
        assertThat(api.headers().firstValue("WWW-Authenticate")).contains("Basic realm=\"Enclave\", charset=\"UTF-8\"");
        HttpResponse<String> curl = send(get("/v1/thing").header("Accept", HTML).header("Authorization", basic("alice", PASS)));
        assertThat(curl.statusCode()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo("path=/v1/thing user=alice cookie=null auth=null");
    }

    @Test
    void aScriptInABrowserGets401WithoutAChallengeSoNoPasswordPopUp() throws Exception {
        HttpResponse<String> xhr = send(get("/api/conversations").header("Accept", "application/json")
                .header("Sec-Fetch-Mode", "cors").header("Sec-Fetch-Site", "same-origin"));
        assertThat(xhr.statusCode()).isEqualTo(401);
        assertThat(xhr.headers().firstValue("WWW-Authenticate")).isEmpty();
        assertThat(appRequests.get()).isZero();
    }

    // ---- logging in ----------------------------------------------------------------------------

    @Test
    void aBrowserLogsInUsesTheAppAndLogsOut() throws Exception {
        HttpClient browser = HttpClient.newBuilder().sslContext(GatewayTrust.context(state)).cookieHandler(new CookieManager()).build();
        HttpResponse<String> page = browser.send(get("/workspace").header("Accept", HTML).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(401);
        HttpResponse<String> login = browser.send(post("/.enclave/login", form("user", "alice", "password", PASS,
                "csrf", csrfToken(page), "next", "/workspace")).header("Origin", origin()).header("Sec-Fetch-Site", "same-origin")
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(login.statusCode()).isEqualTo(303);
        assertThat(login.headers().firstValue("Location")).contains("/workspace");

        HttpResponse<String> app = browser.send(get("/workspace").header("Accept", HTML).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(app.statusCode()).isEqualTo(200);
        assertThat(app.body()).isEqualTo("hello from the app");
        assertThat(seen.get()).startsWith("path=/workspace user=alice cookie=null ");

        HttpResponse<String> logout = browser.send(get("/logout").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(logout.statusCode()).isEqualTo(303);
        assertThat(logout.headers().firstValue("Location")).contains("/.enclave/login?logged_out");
        HttpResponse<String> after = browser.send(get("/workspace").header("Accept", HTML).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(after.statusCode()).isEqualTo(401);
        assertThat(after.body()).contains("<form method=\"post\"");
        HttpResponse<String> bye = browser.send(get("/.enclave/login?logged_out").header("Accept", HTML).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(bye.statusCode()).isEqualTo(200);
        assertThat(bye.body()).contains("You are logged out.");
        assertThat(appRequests.get()).isEqualTo(1);

        audit.flush();
        String log = Files.readString(state.resolve("audit.log"));
        assertThat(log).containsPattern("\"event\":\"login\",\"user\":\"alice\",\"source\":\"127.0.0.1\",\"result\":\"success\",\"method\":\"form\"");
        assertThat(log).containsPattern("\"event\":\"logout\",\"user\":\"alice\",\"source\":\"127.0.0.1\",\"result\":\"session_ended\"");
    }

    @Test
    void theRightPasswordRedirectsToNextWithASessionCookieWithExactlyTheseAttributes() throws Exception {
        Form f = loginForm("/projects/42?tab=files");
        HttpResponse<String> r = send(f.post("alice", PASS));
        assertThat(r.statusCode()).isEqualTo(303);
        assertThat(r.headers().firstValue("Location")).contains("/projects/42?tab=files");
        assertThat(r.headers().allValues("Set-Cookie")).singleElement().asString().matches(SESSION_COOKIE);
        assertThat(r.headers().firstValue("Cache-Control")).contains("no-store");
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void theSessionCookieReachesTheAppAsTheUserButNotAsACookie() throws Exception {
        String token = logIn();
        HttpResponse<String> r = send(get("/v1/thing?q=1")
                .header("Cookie", "theme=dark; __Host-enclave_session=" + token + "; __Host-enclave_csrf=" + "C".repeat(43) + "; lang=en")
                .header("X-Forwarded-User", "admin"));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo("path=/v1/thing?q=1 user=alice cookie=[theme=dark; lang=en] auth=null");
        send(get("/only-ours").header("Cookie", "__Host-enclave_session=" + token));
        assertThat(seen.get()).isEqualTo("path=/only-ours user=alice cookie=null auth=null");
    }

    @Test
    void aLoginWithoutTheRightCsrfTokenIsRefusedAndMakesNoSession() throws Exception {
        Form f = loginForm("/");
        Form other = loginForm("/");
        Map<String, HttpRequest.Builder> attempts = new LinkedHashMap<>();
        attempts.put("no CSRF cookie", post("/.enclave/login", form("user", "alice", "password", PASS, "csrf", f.token, "next", "/")));
        attempts.put("another browser's token", post("/.enclave/login", form("user", "alice", "password", PASS, "csrf", other.token,
                "next", "/")).header("Cookie", "__Host-enclave_csrf=" + f.cookie));
        attempts.put("a made-up token", post("/.enclave/login", form("user", "alice", "password", PASS, "csrf", "x".repeat(43),
                "next", "/")).header("Cookie", "__Host-enclave_csrf=" + f.cookie));
        attempts.put("an empty token", post("/.enclave/login", form("user", "alice", "password", PASS, "csrf", "", "next", "/"))
                .header("Cookie", "__Host-enclave_csrf=" + f.cookie));
        for (Map.Entry<String, HttpRequest.Builder> a : attempts.entrySet()) {
            HttpResponse<String> r = send(a.getValue());
            assertThat(r.statusCode()).as(a.getKey()).isEqualTo(403);
            assertThat(r.body()).as(a.getKey()).contains("The login form had expired");
            assertThat(r.headers().allValues("Set-Cookie")).as(a.getKey()).noneMatch(c -> c.startsWith("__Host-enclave_session"));
        }
        HttpResponse<String> missing = send(post("/.enclave/login", form("user", "alice", "password", PASS, "next", "/"))
                .header("Cookie", "__Host-enclave_csrf=" + f.cookie));
        assertThat(missing.statusCode()).isEqualTo(400);
        assertThat(missing.body()).isEqualTo("enclave gateway: the form has no \"csrf\"\n");
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"result\":\"refused\",\"reason\":\"csrf\",\"method\":\"form\"")
                .doesNotContain("\"result\":\"success\"");
    }

    @Test
    void aLoginPostedFromAnotherSiteIsRefusedEvenWithAValidToken() throws Exception {
        Form f = loginForm("/");
        HttpResponse<String> origin = send(f.post("alice", PASS).header("Origin", "https://evil.test"));
        assertThat(origin.statusCode()).isEqualTo(403);
        assertThat(origin.headers().allValues("Set-Cookie")).noneMatch(c -> c.startsWith("__Host-enclave_session"));
        HttpResponse<String> fetchSite = send(f.post("alice", PASS).header("Sec-Fetch-Site", "cross-site"));
        assertThat(fetchSite.statusCode()).isEqualTo(403);
        assertThat(fetchSite.headers().allValues("Set-Cookie")).noneMatch(c -> c.startsWith("__Host-enclave_session"));
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"reason\":\"cross_site\"");
    }

    @Test
    void aWrongPasswordShowsTheFormAgainAndCountsTowardsTheBan() throws Exception {
        Form f = loginForm("/");
        HttpResponse<String> wrong = send(f.post("alice", "not the passphrase"));
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(wrong.headers().firstValue("WWW-Authenticate")).isEmpty();
        assertThat(wrong.body()).contains("<p id=\"message\" role=\"alert\">Wrong user name or password.</p>")
                .contains("<form method=\"post\"");
        HttpResponse<String> unknown = send(f.post("mallory", "not the passphrase"));
        assertThat(unknown.statusCode()).isEqualTo(401);
        assertThat(unknown.body()).contains("<p id=\"message\" role=\"alert\">Wrong user name or password.</p>");

        HttpResponse<String> third = send(f.post("alice", "still not the passphrase"));
        assertThat(third.statusCode()).isEqualTo(403);
        assertThat(third.body()).contains("Too many failed logins from your address");
        // Banned: new connections are dropped before TLS, even with the right password.
        assertThatThrownBy(() -> send(f.post("alice", PASS))).isInstanceOf(IOException.class);
        audit.flush();
        String log = Files.readString(state.resolve("audit.log"));
        assertThat(log).contains("\"user\":\"mallory\",\"source\":\"127.0.0.1\",\"result\":\"failure\",\"reason\":\"bad_credentials\",\"method\":\"form\"");
        assertThat(log).contains("\"result\":\"banned\"");
    }

    @ParameterizedTest(name = "next={0} is not followed off the site")
    @ValueSource(strings = {"//evil.test/", "https://evil.test/", "/\\evil.test", "\\\\evil.test", "javascript:alert(1)",
        "/ok path", "/.enclave/login", "/logout", ""})
    void aNextThatLeavesTheSiteOrLoopsGoesToTheRoot(String next) throws Exception {
        HttpResponse<String> page = send(get("/.enclave/login?next=" + URLEncoder.encode(next, StandardCharsets.UTF_8))
                .header("Accept", HTML));
        assertThat(page.body()).contains("<input type=\"hidden\" name=\"next\" value=\"/\">");
        Form f = loginForm("/");
        HttpResponse<String> r = send(post("/.enclave/login", form("user", "alice", "password", PASS, "csrf", f.token, "next", next))
                .header("Cookie", "__Host-enclave_csrf=" + f.cookie));
        assertThat(r.statusCode()).isEqualTo(303);
        assertThat(r.headers().firstValue("Location")).contains("/");
    }

    @Test
    void aBrowserAlreadyLoggedInSkipsTheFormAndEveryLoginGetsAFreshToken() throws Exception {
        String first = logIn();
        HttpResponse<String> r = send(get("/.enclave/login?next=/work").header("Cookie", "__Host-enclave_session=" + first));
        assertThat(r.statusCode()).isEqualTo(303);
        assertThat(r.headers().firstValue("Location")).contains("/work");

        Form f = loginForm("/");
        HttpResponse<String> again = send(f.post("alice", PASS).header("Cookie",
                "__Host-enclave_csrf=" + f.cookie + "; __Host-enclave_session=" + first));
        Matcher m = SESSION_COOKIE.matcher(again.headers().firstValue("Set-Cookie").orElseThrow());
        assertThat(m.matches()).isTrue();
        assertThat(m.group(1)).isNotEqualTo(first);
        assertThat(send(get("/").header("Cookie", "__Host-enclave_session=" + first)).statusCode()).isEqualTo(401);
        assertThat(send(get("/").header("Cookie", "__Host-enclave_session=" + m.group(1))).statusCode()).isEqualTo(200);
    }

    @Test
    void theLoginFormTakesAtMost8KiBAndOnlyUrlEncodedForms() throws Exception {
        Form f = loginForm("/");
        HttpResponse<String> big = send(post("/.enclave/login", form("user", "alice", "password", "p".repeat(9000), "csrf", f.token))
                .header("Cookie", "__Host-enclave_csrf=" + f.cookie));
        assertThat(big.statusCode()).isEqualTo(413);
        HttpResponse<String> json = send(get("/.enclave/login").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"user\":\"alice\"}")));
        assertThat(json.statusCode()).isEqualTo(415);
        HttpResponse<String> put = send(get("/.enclave/login").PUT(HttpRequest.BodyPublishers.ofString("x")));
        assertThat(put.statusCode()).isEqualTo(405);
        assertThat(put.headers().firstValue("Allow")).contains("GET, HEAD, POST");
    }

    // ---- logging out, timeouts, revocation ----------------------------------------------------

    @Test
    void logoutEndsTheSessionOnTheServerSoTheOldCookieNoLongerWorks() throws Exception {
        String token = logIn();
        HttpResponse<String> out = send(post("/logout", "").header("Cookie", "__Host-enclave_session=" + token));
        assertThat(out.statusCode()).isEqualTo(303);
        assertThat(out.headers().firstValue("Location")).contains("/.enclave/login?logged_out");
        assertThat(out.headers().allValues("Set-Cookie")).containsExactly(
                "__Host-enclave_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
        HttpResponse<String> replay = send(get("/").header("Cookie", "__Host-enclave_session=" + token).header("Accept", HTML));
        assertThat(replay.statusCode()).isEqualTo(401);
        assertThat(replay.body()).contains("Your session has ended. Please log in again.");
        assertThat(appRequests.get()).isZero();
    }

    private static final Pattern LOGOUT_CONFIRMATION = Pattern.compile(
            "<form method=\"post\" action=\"/logout\">\n<input type=\"hidden\" name=\"csrf\" value=\"([^\"]+)\">\n"
            + "<button id=\"logout\" type=\"submit\">Log out</button>");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site", "Origin: https://evil.test"})
    void aLogoutLinkOnAnotherSiteOnlyAsksAndTheSessionAndItsCookieStay(String header) throws Exception {
        String token = logIn();
        String[] h = header.split(": ");
        HttpResponse<String> r = send(get("/logout").header("Cookie", "__Host-enclave_session=" + token)
                .header("Accept", HTML).header(h[0], h[1]));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().allValues("Set-Cookie")).noneMatch(c -> c.startsWith("__Host-enclave_session"));
        assertThat(r.headers().firstValue("Content-Security-Policy")).contains(LoginPage.CSP);
        assertThat(r.headers().firstValue("Cache-Control")).contains("no-store");
        assertThat(r.body()).containsPattern(LOGOUT_CONFIRMATION).contains("Log out of Enclave?").doesNotContain("<script");
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        HttpResponse<String> posted = send(post("/logout", "").header("Cookie", "__Host-enclave_session=" + token).header(h[0], h[1]));
        assertThat(posted.statusCode()).as("a cross-site POST without the token asks too").isEqualTo(200);
        assertThat(posted.headers().allValues("Set-Cookie")).noneMatch(c -> c.startsWith("__Host-enclave_session"));
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log")))
                .contains("\"event\":\"logout\",\"source\":\"127.0.0.1\",\"result\":\"confirmation_asked\",\"reason\":\"cross_site\"");
    }

    @Test
    void theConfirmationsButtonLogsOutWithItsCsrfToken() throws Exception {
        String token = logIn();
        HttpResponse<String> ask = send(get("/logout").header("Accept", HTML).header("Sec-Fetch-Site", "cross-site"));
        Matcher c = CSRF_COOKIE.matcher(ask.headers().firstValue("Set-Cookie").orElseThrow());
        assertThat(c.matches()).isTrue();
        Matcher field = LOGOUT_CONFIRMATION.matcher(ask.body());
        assertThat(field.find()).isTrue();
        String cookies = "__Host-enclave_csrf=" + c.group(1) + "; __Host-enclave_session=" + token;
        HttpResponse<String> wrongToken = send(post("/logout", form("csrf", "x".repeat(43))).header("Cookie", cookies)
                .header("Sec-Fetch-Site", "cross-site"));
        assertThat(wrongToken.statusCode()).isEqualTo(200);
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        HttpResponse<String> click = send(post("/logout", form("csrf", field.group(1))).header("Cookie", cookies)
                .header("Origin", origin()).header("Sec-Fetch-Site", "same-origin"));
        assertThat(click.statusCode()).isEqualTo(303);
        assertThat(click.headers().allValues("Set-Cookie")).containsExactly(
                "__Host-enclave_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
        assertThat(withSession(token, "/").statusCode()).isEqualTo(401);

        String second = logIn(); // the token alone is enough, whatever the headers say
        HttpResponse<String> withToken = send(post("/logout", form("csrf", field.group(1)))
                .header("Cookie", "__Host-enclave_csrf=" + c.group(1) + "; __Host-enclave_session=" + second)
                .header("Sec-Fetch-Site", "cross-site"));
        assertThat(withToken.statusCode()).isEqualTo(303);
        assertThat(withSession(second, "/").statusCode()).isEqualTo(401);
    }

    @ParameterizedTest(name = "Sec-Fetch-Site: {0}")
    @ValueSource(strings = {"none", "same-origin"})
    void aLogoutTypedInTheAddressBarOrFromThisSiteLogsOutAtOnce(String site) throws Exception {
        String token = logIn();
        HttpResponse<String> r = send(get("/logout").header("Cookie", "__Host-enclave_session=" + token).header("Sec-Fetch-Site", site));
        assertThat(r.statusCode()).isEqualTo(303);
        assertThat(r.headers().firstValue("Location")).contains("/.enclave/login?logged_out");
        assertThat(withSession(token, "/").statusCode()).isEqualTo(401);
    }

    @Test
    void aSessionEndsAfterEightIdleHours() throws Exception {
        String token = logIn();
        clock.advance(Duration.ofHours(7).plusMinutes(59));
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        clock.advance(Duration.ofHours(7).plusMinutes(59));
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        clock.advance(Duration.ofHours(8));
        assertThat(withSession(token, "/").statusCode()).isEqualTo(401);
    }

    @Test
    void aSessionEnds24HoursAfterTheLoginHoweverBusy() throws Exception {
        String token = logIn();
        for (int i = 0; i < 3; i++) {
            clock.advance(Duration.ofHours(7));
            assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        }
        clock.advance(Duration.ofHours(3));
        assertThat(withSession(token, "/").statusCode()).isEqualTo(401);
    }

    @Test
    void aPasswordChangeEndsTheUsersSessions() throws Exception {
        String token = logIn();
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash("a new passphrase!".toCharArray())));
        assertThat(statusWithinSeconds(token, 401, 5)).isEqualTo(401); // the users file is looked at once a second
        assertThat(withSession(token, "/").statusCode()).isEqualTo(401);
    }

    @Test
    void enclaveSessionsRevokeEndsTheUsersSessionsInTheRunningGatewayWithinASecond() throws Exception {
        String token = logIn();
        assertThat(withSession(token, "/").statusCode()).isEqualTo(200);
        dev.enclave.gateway.session.SessionStore.revokeUser(state, "alice", clock.instant()); // what the CLI does, from another process
        assertThat(statusWithinSeconds(token, 401, 5)).isEqualTo(401);
        clock.advance(Duration.ofSeconds(1));
        assertThat(withSession(logIn(), "/").statusCode()).as("a new login").isEqualTo(200);
    }

    @Test
    void deletingTheUserEndsTheUsersSessions() throws Exception {
        String token = logIn();
        UserStore.update(state.resolve("users"), s -> s.without("alice"));
        assertThat(statusWithinSeconds(token, 401, 5)).isEqualTo(401);
    }

    @Test
    void aSessionOfAnImportedUserStaysValidAfterTheLoginRehashedItsPassword() throws Exception {
        // openssl passwd -apr1 -salt 8sFt66rZ "correct horse battery"
        UserStore.update(state.resolve("users"), s -> s.withImported("carol", "$apr1$8sFt66rZ$Jvdo8BmjNf634Wz7pTrmb."));
        gateway.close();
        gateway = startGateway(); // reads the users file with carol at once
        Form f = loginForm("/");
        HttpResponse<String> r = send(f.post("carol", "correct horse battery"));
        assertThat(r.statusCode()).isEqualTo(303);
        Matcher m = SESSION_COOKIE.matcher(r.headers().firstValue("Set-Cookie").orElseThrow());
        assertThat(m.matches()).isTrue();
        assertThat(UserStore.load(state.resolve("users")).hashOf("carol")).get().asString().startsWith("$argon2id$");
        Thread.sleep(1100); // past the users file's once-a-second look, so the gateway has read the rehash
        assertThat(withSession(m.group(1), "/").statusCode()).isEqualTo(200);
    }

    @Test
    void aSessionSurvivesAGatewayRestart() throws Exception {
        String token = logIn();
        gateway.close();
        gateway = startGateway();
        HttpResponse<String> r = withSession(token, "/after-restart");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(seen.get()).startsWith("path=/after-restart user=alice ");
    }

    @Test
    void aCorruptSessionsFileStopsTheStartWithTheFileAndTheFix() throws Exception {
        gateway.close();
        Path sessions = state.resolve("sessions");
        Files.writeString(sessions, "this is not a session\n");
        Files.setPosixFilePermissions(sessions, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(this::startGateway).isInstanceOf(UserFileException.class)
                .hasMessage(sessions + ":1: not a session line (sha256-of-token user created last-seen credential-stamp, "
                        + "each once); delete the file to end every browser session (users log in again), then start the gateway again");
    }

    // ---- the gateway's own paths, and pipelining ------------------------------------------------

    @Test
    void theGatewaysOwnPathsNeverReachTheApp() throws Exception {
        String token = logIn();
        for (String path : new String[] {"/.enclave/login", "/.enclave/", "/.enclave/anything", "/.enclave", "/logout"}) {
            send(get(path).header("Authorization", basic("alice", PASS)));
            send(get(path).header("Cookie", "__Host-enclave_session=" + logIn()));
        }
        assertThat(send(get("/.enclave/anything").header("Cookie", "__Host-enclave_session=" + token)).statusCode()).isEqualTo(404);
        assertThat(appRequests.get()).isZero();
    }

    @Test
    void pipelinedRequestsWithASessionAreAnsweredInOrderAndAnAnonymousOneIsNotCarriedIn() throws Exception {
        String cookie = "Cookie: __Host-enclave_session=" + logIn() + "\r\n";
        String three = "GET /a HTTP/1.1\r\nHost: gw\r\n" + cookie + "\r\n"
                + "GET /b HTTP/1.1\r\nHost: gw\r\n" + cookie + "\r\n"
                + "GET /c HTTP/1.1\r\nHost: gw\r\n" + "\r\n";
        String got = raw(three);
        assertThat(got.split("HTTP/1\\.1 200", -1)).hasSize(3);
        assertThat(got.indexOf("HTTP/1.1 401")).isGreaterThan(got.lastIndexOf("HTTP/1.1 200"));
        assertThat(appRequests.get()).isEqualTo(2);
        assertThat(seen.get()).startsWith("path=/b ");
    }

    @Test
    void aLogoutPipelinedBehindAnAppRequestIsAnsweredAfterIt() throws Exception {
        String token = logIn();
        String both = "GET /a HTTP/1.1\r\nHost: gw\r\nCookie: __Host-enclave_session=" + token + "\r\n\r\n"
                + "GET /logout HTTP/1.1\r\nHost: gw\r\nCookie: __Host-enclave_session=" + token + "\r\n\r\n";
        String got = raw(both);
        assertThat(got).startsWith("HTTP/1.1 200").contains("HTTP/1.1 303");
        assertThat(got.indexOf("HTTP/1.1 303")).isGreaterThan(got.indexOf("hello from the app"));
        assertThat(withSession(token, "/").statusCode()).isEqualTo(401);
    }

    // ---- helpers --------------------------------------------------------------------------------

    /** A login form as a browser got it: its CSRF cookie and token. */
    private final class Form {
        final String cookie;
        final String token;
        final String next;

        Form(String cookie, String token, String next) {
            this.cookie = cookie;
            this.token = token;
            this.next = next;
        }

        HttpRequest.Builder post(String user, String password) {
            return BrowserLoginTest.this.post("/.enclave/login", form("user", user, "password", password, "csrf", token, "next", next))
                    .header("Cookie", "__Host-enclave_csrf=" + cookie);
        }
    }

    private Form loginForm(String next) throws Exception {
        HttpResponse<String> page = send(get("/.enclave/login?next=" + URLEncoder.encode(next, StandardCharsets.UTF_8)).header("Accept", HTML));
        assertThat(page.statusCode()).isEqualTo(200);
        Matcher c = CSRF_COOKIE.matcher(page.headers().firstValue("Set-Cookie").orElseThrow());
        assertThat(c.matches()).isTrue();
        return new Form(c.group(1), csrfToken(page), next);
    }

    /** Logs alice in through the form; returns the session token. */
    private String logIn() throws Exception {
        HttpResponse<String> r = send(loginForm("/").post("alice", PASS));
        assertThat(r.statusCode()).isEqualTo(303);
        Matcher m = SESSION_COOKIE.matcher(r.headers().firstValue("Set-Cookie").orElseThrow());
        assertThat(m.matches()).isTrue();
        return m.group(1);
    }

    private static String csrfToken(HttpResponse<String> page) {
        Matcher m = CSRF_FIELD.matcher(page.body());
        assertThat(m.find()).as("csrf field in the page").isTrue();
        return m.group(1);
    }

    private HttpResponse<String> withSession(String token, String path) throws Exception {
        return send(get(path).header("Cookie", "__Host-enclave_session=" + token));
    }

    /** Sends with the session until the answer is {@code status} or {@code seconds} pass; returns the last status. */
    private int statusWithinSeconds(String token, int status, int seconds) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        int last;
        do {
            last = withSession(token, "/").statusCode();
            if (last == status) {
                return last;
            }
            Thread.sleep(100);
        } while (System.nanoTime() < end);
        return last;
    }

    private String origin() {
        return "https://127.0.0.1:" + address.getPort();
    }

    private HttpRequest.Builder get(String path) {
        return HttpRequest.newBuilder(URI.create(origin() + path)).timeout(Duration.ofSeconds(10));
    }

    private HttpRequest.Builder post(String path, String body) {
        return get(path).header("Content-Type", "application/x-www-form-urlencoded").POST(HttpRequest.BodyPublishers.ofString(body));
    }

    private static String form(String... pairs) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < pairs.length; i += 2) {
            out.add(URLEncoder.encode(pairs[i], StandardCharsets.UTF_8) + "=" + URLEncoder.encode(pairs[i + 1], StandardCharsets.UTF_8));
        }
        return String.join("&", out);
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return HttpClient.newBuilder().sslContext(GatewayTrust.context(state)).build().send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Writes {@code requests} on one TLS connection; returns everything read until the gateway closes or goes quiet. */
    private String raw(String requests) throws Exception {
        java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
        try (SSLSocket s = GatewayTrust.socket(state, address.getPort(), 3000)) {
            s.getOutputStream().write(requests.getBytes(StandardCharsets.ISO_8859_1));
            s.getInputStream().transferTo(got);
        } catch (java.net.SocketTimeoutException | java.net.SocketException stopped) {
            // read until the gateway closes or goes quiet
        }
        return got.toString(StandardCharsets.ISO_8859_1);
    }

    private static String basic(String user, String pass) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8));
    }
}
