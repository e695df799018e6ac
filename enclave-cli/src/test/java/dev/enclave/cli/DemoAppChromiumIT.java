package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The "a browser can log in and get an LLM answer": the real {@code enclave up} (shaded
 * jar, root, a real namespace, both firewall tables, gateway, proxy, relay to a local fake LLM over
 * TLS, the built-in demo app as nobody), driven by headless Chromium exactly as a newcomer would:
 * the login form with the printed password, a prompt in the demo page answered by a stream over the
 * page's WebSocket, a URL
 * in the "try to reach" box refused by the egress proxy. Then {@code down}. Its own namespace name,
 * 10.77.97.0/24 and gateway port, so it never meets {@link UpCommandIT}'s or a real enclave-app.
 */
class DemoAppChromiumIT {
    private static final String NS = "enclave-brit";
    private static final String HOST = "10.77.97.1";
    private static final String APP = "10.77.97.2";
    private static final int GATEWAY_PORT = 18444;
    private static final String KEY = "sk-chromium-it-real-key-0a1b2c";
    private static final Pattern PASSWORD = Pattern.compile("created user admin with password (\\S+)");
    private static final File CHROMIUM = new File("/usr/bin/chromium");
    private static final File DRIVER = new File("/usr/bin/chromedriver");

    private Path base;
    private Path state;
    private FakeLlmApi llm;
    private ChromeDriver browser;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0, "enclave up needs root (CI runs as root)");
        assumeTrue(CHROMIUM.canExecute() && DRIVER.canExecute(), "needs the Debian packages chromium and chromium-driver (.ci/run installs them)");
        for (String t : List.of("ip", "nft", "setpriv", "setsid")) {
            assumeTrue(HostCommand.tool(t) != null, "needs " + t + " (Debian packages iproute2, nftables, util-linux)");
        }
        base = Files.createTempDirectory("enclave-chromium-it"); // 0755: the app (nobody) passes through to STATE/app
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        state = base.resolve("state");
        TestPki pki = TestPki.forNames("api.llm.test");
        llm = new FakeLlmApi(pki, "127.0.0.1");
        pki.writeCaPem(base.resolve("ca.pem"));
        EnclaveJar.run("down", "--state", state.toString(), "--netns", NS); // a leftover of an interrupted run
    }

    @AfterEach
    void tearDown() throws Exception {
        if (base == null) {
            return;
        }
        try {
            if (browser != null) {
                browser.quit();
            }
            EnclaveJar.Result down = EnclaveJar.run("down", "--state", state.toString(), "--netns", NS);
            assertThat(down.exit()).as(down.err()).isZero();
            assertThat(Files.exists(Path.of("/run/netns", NS))).isFalse();
            assertThat(Files.exists(Path.of("/sys/class/net/ve-" + NS))).isFalse();
            assertThat(HostCommand.run(null, "nft", "list", "tables")).doesNotContain("enclave_host_" + NS);
        } finally {
            llm.close();
            try (Stream<Path> files = Files.walk(base)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aBrowserLogsInWithThePrintedPasswordGetsAStreamedAnswerAndSeesTheProxyRefuseAUrl() throws Exception {
        EnclaveJar.Result up = up();
        assertThat(up.exit()).as(up.out() + up.err()).isZero();
        Matcher m = PASSWORD.matcher(up.out());
        assertThat(m.find()).as(up.out()).isTrue();
        String password = m.group(1);

        browser = chromiumTrusting(state.resolve("tls/cert.pem"));
        String gateway = "https://localhost:" + GATEWAY_PORT + "/";
        browser.get(gateway);
        assertThat(browser.getTitle()).isEqualTo("Enclave: log in");
        browser.findElement(By.id("user")).sendKeys("admin");
        browser.findElement(By.id("password")).sendKeys(password);
        browser.findElement(By.id("login")).click();
        waitFor().until(ExpectedConditions.titleIs("Enclave demo app"));

        int calls = llm.seen().size();
        WebElement prompt = browser.findElement(By.id("prompt"));
        prompt.clear();
        prompt.sendKeys("say three words");
        browser.findElement(By.id("ask")).click();
        // The fake LLM streams "one", "two", "three": through relay, demo app, WebSocket and gateway into the page.
        waitFor().until(ExpectedConditions.or(ExpectedConditions.attributeToBe(By.id("answer"), "data-state", "done"),
                ExpectedConditions.attributeToBe(By.id("answer"), "data-state", "error")));
        WebElement answer = browser.findElement(By.id("answer"));
        assertThat(answer.getText()).isEqualTo(String.join("", FakeLlmApi.STREAM_WORDS));
        assertThat(answer.getAttribute("data-state")).isEqualTo("done");
        // It came over the page's WebSocket, one message per piece (the page counts them as they arrive) ...
        assertThat(answer.getAttribute("data-transport")).isEqualTo("websocket");
        assertThat(answer.getAttribute("data-pieces")).isEqualTo(String.valueOf(FakeLlmApi.STREAM_WORDS.size()));
        assertThat(browser.findElement(By.id("status")).getText()).isEqualTo("streamed over a WebSocket: 3 pieces, done");
        // ... and the gateway switched that connection to the app's WebSocket (its access line for the 101).
        String upgraded = awaitLine(state.resolve("audit/gateway.log"), "\"path\":\"/ask\"");
        assertThat(upgraded).contains("\"event\":\"access\"", "\"method\":\"GET\"", "\"status\":101", "\"user\":\"admin\"");
        assertThat(llm.seen()).hasSizeGreaterThan(calls);
        assertThat(llm.seen().get(llm.seen().size() - 1).header("authorization")).containsExactly("Bearer " + KEY);

        WebElement url = browser.findElement(By.id("url"));
        url.clear();
        url.sendKeys("https://example.com/");
        browser.findElement(By.id("reach")).click();
        waitFor().until(ExpectedConditions.textToBePresentInElementLocated(By.id("reached"), "403"));
        assertThat(browser.findElement(By.id("reached")).getText())
                .contains("egress proxy " + HOST + ":3128 answered: HTTP/1.1 403").contains("host_not_allowed");

        assertThat(browser.getPageSource()).doesNotContain(KEY);
        assertThat(Files.readString(state.resolve("audit/gateway.log"))).contains("\"event\":\"login\"").doesNotContain(password);
    }

    /** The first line of {@code log} containing {@code text}, waiting up to 10 s: audit lines are written in batches. */
    private static String awaitLine(Path log, String text) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        do {
            for (String line : Files.readAllLines(log)) {
                if (line.contains(text)) {
                    return line;
                }
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("no line with " + text + " in " + log + ":\n" + Files.readString(log));
    }

    private EnclaveJar.Result up() throws IOException, InterruptedException {
        Path config = base.resolve("enclave.yaml");
        Files.writeString(config, """
                target: local
                gateway:
                  listen: 127.0.0.1:%d
                  upstream: http://%s:3000
                egress:
                  listen: %s:3128
                  clients: [ %s/32 ]
                  allow: []
                llm:
                  - preset: openai
                    listen: %s:4000
                    upstream: https://api.llm.test
                    key: { env: ENCLAVE_LLM_API_KEY }
                    resolve: [ "api.llm.test:443=127.0.0.1:%d" ]
                    allow_cidr: [ 127.0.0.1/32 ]
                    ca: %s
                host:
                  gateway_source: %s
                """.formatted(GATEWAY_PORT, APP, HOST, APP, HOST, llm.port(), base.resolve("ca.pem"), HOST));
        ProcessBuilder pb = EnclaveJar.command("up", "-c", config.toString(), "--state", state.toString(), "--netns", NS);
        pb.environment().put("ENCLAVE_LLM_API_KEY", KEY);
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes(); // the detached supervisor writes to its log, not to these pipes
        byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(240, TimeUnit.SECONDS)).isTrue();
        return new EnclaveJar.Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    /**
     * Headless Chromium trusting exactly the gateway's self-signed key (its SPKI hash), so every
     * other certificate error still fails; the driver is named, so Selenium Manager never goes online.
     */
    private static ChromeDriver chromiumTrusting(Path certPem) throws Exception {
        X509Certificate cert;
        try (InputStream in = Files.newInputStream(certPem)) {
            cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        String spki = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(cert.getPublicKey().getEncoded()));
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        options.addArguments("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--ignore-certificate-errors-spki-list=" + spki);
        if ("root".equals(System.getProperty("user.name"))) {
            options.addArguments("--no-sandbox"); // Chromium refuses to run its sandbox as root (CI)
        }
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER).usingAnyFreePort().build();
        ChromeDriver driver = new ChromeDriver(service, options);
        driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(30));
        return driver;
    }

    /** A bound, not a speed check: a login costs an argon2id hash, and the machine is busy. */
    private WebDriverWait waitFor() {
        return new WebDriverWait(browser, Duration.ofSeconds(30));
    }
}
