package dev.enclave.gateway.browser;

import java.io.File;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.Assumptions;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The Debian {@code chromium} driven through {@code chromedriver}, headless, trusting exactly one
 * certificate key (the gateway's self-signed one) and nothing more: {@code
 * --ignore-certificate-errors-spki-list} names that key's SPKI hash, so every other certificate
 * error still fails. No network is used: Selenium Manager is bypassed by naming the driver.
 */
final class HeadlessChromium {
    private static final File CHROMIUM = new File("/usr/bin/chromium");
    private static final File DRIVER = new File("/usr/bin/chromedriver");

    private HeadlessChromium() {
    }

    /** Skips the calling test (with the reason) where the packages are missing; CI installs them. */
    static void assumeInstalled() {
        Assumptions.assumeTrue(CHROMIUM.canExecute() && DRIVER.canExecute(),
                "needs the Debian packages chromium and chromium-driver (.ci/run installs them)");
    }

    static ChromeDriver trusting(X509Certificate gatewayCert) throws Exception {
        assumeInstalled();
        String spki = Base64.getEncoder().encodeToString(
                MessageDigest.getInstance("SHA-256").digest(gatewayCert.getPublicKey().getEncoded()));
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
        driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(20));
        return driver;
    }
}
