package dev.enclave.gateway.browser;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.GatewayServer;
import dev.enclave.gateway.GatewaySettings;
import dev.enclave.gateway.GatewayTrust;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Cookie;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WindowType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * A real browser (Debian's Chromium, headless) through the real gateway to an app that, like
 * OpenHands, lives on a WebSocket: log in with the form, talk over the socket, stay idle longer
 * than the gateway's HTTP idle timeout (lowered to 2 s here, standing in for the seed's 60 s
 * cut), talk again, log out. Timeouts are lowered in the test; the product's are 60 s and 1 h.
 */
class ChromiumLoginTest {
    private static final String PASS = "a long passphrase";
    private static final String SESSION = "__Host-enclave_session";
    private static final Duration HTTP_IDLE = Duration.ofSeconds(2);
    @TempDir
    Path state;
    private ChatLikeApp app;
    private AuditLog audit;
    private GatewayServer gateway;
    private ChromeDriver browser;
    private String base;

    @BeforeAll
    static void chromiumIsHere() {
        HeadlessChromium.assumeInstalled();
    }

    private void start(Duration webSocketIdle) throws Exception {
        app = new ChatLikeApp();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.port()), state.resolve("users"), state, null, null, List.of("localhost"),
                16 * 1024, webSocketIdle, 5, Duration.ofMinutes(10), Duration.ofHours(1)).withClientIdle(HTTP_IDLE)
                .withSessionRecheck(Duration.ofSeconds(1)), audit);
        int port = gateway.start().getPort();
        base = "https://localhost:" + port;
        browser = HeadlessChromium.trusting(GatewayTrust.certificate(state));
    }

    @AfterEach
    void stop() {
        if (browser != null) {
            browser.quit();
        }
        if (gateway != null) {
            gateway.close();
        }
        if (app != null) {
            app.close();
        }
        if (audit != null) {
            audit.close();
        }
    }

    @Test
    void logInTalkOverAWebSocketStayIdlePastTheHttpTimeoutTalkAgainAndLogOut() throws Exception {
        start(Duration.ofSeconds(30));
        browser.get(base + "/projects/7?tab=chat");
        assertThat(browser.getTitle()).isEqualTo("Enclave: log in");
        assertThat(script("return performance.getEntriesByType('resource').length")).as("no assets loaded by the login page").isEqualTo(0L);
        assertThat(app.pageRequests).as("nothing reached the app before login").isEmpty();

        browser.findElement(By.id("user")).sendKeys("alice");
        browser.findElement(By.id("password")).sendKeys(PASS);
        browser.findElement(By.id("login")).click();

        waitFor().until(ExpectedConditions.textToBe(By.id("who"), "alice"));
        assertThat(browser.getCurrentUrl()).isEqualTo(base + "/projects/7?tab=chat");
        Cookie session = browser.manage().getCookieNamed(SESSION);
        assertThat(session).isNotNull();
        assertThat(session.isHttpOnly()).isTrue();
        assertThat(session.isSecure()).isTrue();
        assertThat(session.getSameSite()).isEqualTo("Strict");
        assertThat(session.getPath()).isEqualTo("/");
        assertThat((String) script("return document.cookie")).as("scripts cannot read the session").doesNotContain("enclave");

        waitFor().until(ExpectedConditions.textToBe(By.id("state"), "open"));
        say("hello");
        waitFor().until(ExpectedConditions.textToBePresentInElementLocated(By.id("log"), "echo:hello"));

        Thread.sleep(HTTP_IDLE.multipliedBy(2).plusSeconds(1).toMillis()); // idle past the HTTP cut
        assertThat(browser.findElement(By.id("state")).getText()).isEqualTo("open");
        say("still here");
        waitFor().until(ExpectedConditions.textToBePresentInElementLocated(By.id("log"), "echo:still here"));

        browser.navigate().refresh(); // a second page load carries the app's own cookie, never the session
        waitFor().until(ExpectedConditions.textToBe(By.id("who"), "alice"));
        assertThat(app.pageRequests).hasSize(2).allSatisfy(r -> assertThat(r)
                .doesNotContain(SESSION).doesNotContain("enclave_csrf").endsWith("| Authorization:  | X-Forwarded-User: alice"));
        assertThat(app.pageRequests.get(1)).contains("Cookie: app_pref=dark");

        browser.get(base + "/logout");
        waitFor().until(ExpectedConditions.titleIs("Enclave: log in"));
        assertThat(browser.manage().getCookieNamed(SESSION)).isNull();
        browser.get(base + "/projects/7");
        assertThat(browser.getTitle()).as("after logout the app is behind the login page again").isEqualTo("Enclave: log in");
        assertThat(app.pageRequests).hasSize(2);

        String log = Files.readString(state.resolve("audit.log"));
        assertThat(log).contains("\"event\":\"login\"").contains("\"method\":\"form\"").contains("\"event\":\"logout\"");
        assertThat(log).doesNotContain(PASS);
    }

    @Test
    void aWrongPasswordLeavesTheBrowserOnTheLoginPageWithoutASession() throws Exception {
        start(Duration.ofSeconds(30));
        browser.get(base + "/");
        browser.findElement(By.id("user")).sendKeys("alice");
        browser.findElement(By.id("password")).sendKeys("not the passphrase");
        browser.findElement(By.id("login")).click();
        waitFor().until(ExpectedConditions.presenceOfElementLocated(By.id("message")));
        assertThat(browser.getTitle()).isEqualTo("Enclave: log in");
        assertThat(browser.manage().getCookieNamed(SESSION)).isNull();
        assertThat(app.pageRequests).isEmpty();
    }

    @Test
    void aWebSocketIdleLongerThanItsOwnTimeoutIsClosed() throws Exception {
        start(Duration.ofSeconds(3));
        logIn("/");
        waitFor().until(ExpectedConditions.textToBe(By.id("state"), "open"));
        new WebDriverWait(browser, Duration.ofSeconds(15))
                .until(ExpectedConditions.textToBePresentInElementLocated(By.id("state"), "closed"));
    }

    @Test
    void loggingOutInOneTabClosesTheWebSocketOpenInAnother() throws Exception {
        start(Duration.ofSeconds(30));
        logIn("/chat");
        waitFor().until(ExpectedConditions.textToBe(By.id("state"), "open"));
        String chat = browser.getWindowHandle();

        browser.switchTo().newWindow(WindowType.TAB);
        browser.get(base + "/logout");
        waitFor().until(ExpectedConditions.titleIs("Enclave: log in"));

        browser.switchTo().window(chat);
        waitFor().until(ExpectedConditions.textToBePresentInElementLocated(By.id("state"), "closed"));
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"event\":\"session_ended\"");
    }

    private void logIn(String path) {
        browser.get(base + path);
        browser.findElement(By.id("user")).sendKeys("alice");
        browser.findElement(By.id("password")).sendKeys(PASS);
        browser.findElement(By.id("login")).click();
    }

    private void say(String text) {
        browser.findElement(By.id("text")).sendKeys(text);
        browser.findElement(By.id("send")).click();
    }

    private Object script(String js) {
        return ((JavascriptExecutor) browser).executeScript(js);
    }

    /** A bound, not a speed check: a login costs an argon2id hash, slow on a busy 2-core CI machine. */
    private WebDriverWait waitFor() {
        return new WebDriverWait(browser, Duration.ofSeconds(30));
    }
}
