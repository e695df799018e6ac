package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.gateway.GatewaySettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** How {@code enclave gateway} turns its flags and the {@code gateway:} section into settings. */
class GatewayCommandTest {
    @TempDir
    Path dir;

    private GatewaySettings settings(String... args) {
        GatewayCommand command = new GatewayCommand();
        new CommandLine(command).parseArgs(args);
        return command.settings();
    }

    @Test
    void theConfigFileGivesTheCertificateFilesAndTheLimits() throws Exception {
        Path config = dir.resolve("enclave.yaml");
        Files.writeString(config, """
                gateway:
                  upstream: http://10.77.1.2:3000
                  tls: { mode: files, cert: /etc/enclave/cert.pem, key: /etc/enclave/key.pem }
                  limits: { max_head: 16KiB, client_idle: 45s, websocket_idle: 2h }
                """);
        GatewaySettings s = settings("-c", config.toString(), "--state", dir.toString());
        assertThat(s.tlsCert()).isEqualTo(Path.of("/etc/enclave/cert.pem"));
        assertThat(s.tlsKey()).isEqualTo(Path.of("/etc/enclave/key.pem"));
        assertThat(s.maxHeadBytes()).isEqualTo(16 * 1024);
        assertThat(s.clientIdle()).isEqualTo(Duration.ofSeconds(45));
        assertThat(s.upgradedIdle()).isEqualTo(Duration.ofHours(2));
    }

    @Test
    void flagsWinOverTheConfigFileAndDefaultsFillTheRest() throws Exception {
        Path config = dir.resolve("enclave.yaml");
        Files.writeString(config, """
                gateway:
                  upstream: http://10.77.1.2:3000
                  tls: { mode: files, cert: /etc/enclave/cert.pem, key: /etc/enclave/key.pem }
                """);
        GatewaySettings s = settings("-c", config.toString(), "--tls-cert", "/srv/c.pem", "--tls-key", "/srv/k.pem",
                "--upstream", "http://127.0.0.1:3000");
        assertThat(s.tlsCert()).isEqualTo(Path.of("/srv/c.pem"));
        assertThat(s.tlsKey()).isEqualTo(Path.of("/srv/k.pem"));
        assertThat(s.upstream().toString()).isEqualTo("http://127.0.0.1:3000");
        assertThat(s.clientIdle()).isEqualTo(GatewaySettings.DEFAULT_CLIENT_IDLE);
        assertThat(s.upgradedIdle()).isEqualTo(Duration.ofHours(1));
    }

    @Test
    void theKernelDropIsOffUnlessTheFlagOrTheConfigAsksForIt() throws Exception {
        assertThat(settings("--upstream", "http://127.0.0.1:3000").nftCommand()).isNull();
        assertThat(settings("--upstream", "http://127.0.0.1:3000", "--ban-nftables").nftCommand()).isNotNull()
                .last().asString().endsWith("nft");
        Path config = dir.resolve("enclave.yaml");
        Files.writeString(config, """
                gateway:
                  upstream: http://10.77.1.2:3000
                  lockout: { nftables: true }
                """);
        assertThat(settings("-c", config.toString()).nftCommand()).isNotNull();
    }

    @Test
    void anHttpsUpstreamIsRefusedWithTheReason() {
        assertThatThrownBy(() -> settings("--upstream", "https://10.77.1.2:3000"))
                .isInstanceOf(UserError.class).hasMessageContaining("must be http://HOST:PORT");
    }
}
