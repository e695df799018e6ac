package dev.enclave.cli.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.io.File;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The demo page's script in headless Chromium, straight against the demo app on loopback (no
 * gateway, no root; {@code DemoAppChromiumIT} does the whole path): an answer streamed over the
 * page's WebSocket fills the answer box piece by piece, and the relay's budget refusal shows in the
 * page in the relay's own words.
 */
class DemoPageChromiumTest {
    private static final File CHROMIUM = new File("/usr/bin/chromium");
    private static final File DRIVER = new File("/usr/bin/chromedriver");

    @TempDir
    Path dir;
    private FakeLlmApi llm;
    private DemoRelay relay;
    private DemoAppServer app;
    private ChromeDriver browser;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(CHROMIUM.canExecute() && DRIVER.canExecute(), "needs the Debian packages chromium and chromium-driver (.ci/run installs them)");
        TestPki pki = TestPki.forNames("api.llm.test");
        llm = new FakeLlmApi(pki, "127.0.0.1");
        relay = new DemoRelay(llm, pki, dir, () -> "sk-page-test-key", 1); // one request a minute
        app = new DemoAppServer(new DemoAppServer.Settings(new InetSocketAddress("127.0.0.1", 0), relay.baseUrl(),
                "sk-placeholder", "gpt-test", URI.create("http://127.0.0.1:9")));
    }

    @AfterEach
    void tearDown() {
        if (browser != null) {
            browser.quit();
        }
        if (app != null) {
            app.close();
        }
        if (relay != null) {
            relay.close();
        }
        if (llm != null) {
            llm.close();
        }
    }

    @Test
    void theAnswerStreamsIntoThePageOverItsWebSocketAndTheRelaysRefusalShowsInItsWords() throws Exception {
        InetSocketAddress at = app.start();
        browser = chromium();
        browser.get("http://127.0.0.1:" + at.getPort() + "/");
        assertThat(browser.getTitle()).isEqualTo("Enclave demo app");

        browser.findElement(By.id("ask")).click();
        awaitEnd();
        WebElement answer = browser.findElement(By.id("answer"));
        assertThat(answer.getText()).isEqualTo(String.join("", FakeLlmApi.STREAM_WORDS));
        assertThat(answer.getAttribute("data-state")).isEqualTo("done");
        assertThat(answer.getAttribute("data-transport")).isEqualTo("websocket");
        assertThat(answer.getAttribute("data-pieces")).isEqualTo("3");
        assertThat(browser.findElement(By.id("status")).getText()).isEqualTo("streamed over a WebSocket: 3 pieces, done");

        browser.findElement(By.id("ask")).click(); // over the relay's one request a minute
        awaitEnd();
        assertThat(answer.getAttribute("data-state")).isEqualTo("error");
        assertThat(answer.getText()).startsWith("[the relay answered 429: enclave relay: over this relay's request rate: 1 of 1 requests")
                .endsWith("]");
        assertThat(browser.findElement(By.id("status")).getText()).isEqualTo("streamed over a WebSocket: 0 pieces, error");
    }

    /** Until the answer box says done or error; a bound on a busy machine, not a speed check. */
    private void awaitEnd() {
        new WebDriverWait(browser, Duration.ofSeconds(30)).until(ExpectedConditions.or(
                ExpectedConditions.attributeToBe(By.id("answer"), "data-state", "done"),
                ExpectedConditions.attributeToBe(By.id("answer"), "data-state", "error")));
    }

    private static ChromeDriver chromium() {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        options.addArguments("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update");
        if ("root".equals(System.getProperty("user.name"))) {
            options.addArguments("--no-sandbox"); // Chromium refuses to run its sandbox as root (CI)
        }
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER).usingAnyFreePort().build();
        ChromeDriver driver = new ChromeDriver(service, options);
        driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(30));
        return driver;
    }
}
