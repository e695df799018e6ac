package dev.enclave.cli;

import static dev.enclave.cli.HostCommand.quietly;
import static dev.enclave.cli.HostCommand.run;
import static dev.enclave.cli.HostCommand.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code enclave gateway --pam} from the shaded jar (JNA and its native part included), driven
 * with {@code curl -u} over TLS, against throwaway Linux accounts. Needs root (skips otherwise).
 */
class GatewayPamIT {
    private static final String PASS = "correct horse battery staple";
    @TempDir
    Path tmp;
    private final String suffix = suffix();
    private final Path serviceFile = Path.of("/etc/pam.d/enclave-test-" + suffix);
    private final List<String> users = new ArrayList<>();
    private String group;
    private HttpServer app;

    @AfterEach
    void cleanUp() throws IOException {
        // Each step runs even if one before it fails: nothing is left on the machine.
        for (String u : users) {
            quietly("userdel", u);
        }
        if (group != null) {
            quietly("groupdel", group);
        }
        Files.deleteIfExists(serviceFile);
        if (app != null) {
            app.stop(0);
        }
    }

    @Test
    void curlLogsInWithALinuxPasswordWhenTheAccountIsInTheGroup() throws Exception {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "needs root: writes a PAM service to /etc/pam.d and adds Linux accounts (CI runs as root)");
        assumeTrue(tool("useradd") != null && tool("chpasswd") != null, "needs useradd and chpasswd (Debian package passwd)");
        Files.writeString(serviceFile, "auth required pam_unix.so\naccount required pam_unix.so\n");
        group = "enctg" + suffix;
        run(null, "groupadd", group);
        String member = account("m", "--groups", group);
        String outsider = account("o");

        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            byte[] body = ("hello " + ex.getRequestHeaders().getFirst("X-Forwarded-User")).getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.start();
        int port = freePort();
        Process gw = EnclaveJar.command("gateway", "--listen", "127.0.0.1:" + port,
                "--upstream", "http://127.0.0.1:" + app.getAddress().getPort(), "--state", tmp.toString(), "--name", "gw.test",
                "--pam", serviceFile.getFileName().toString(), "--pam-group", group, "--audit", tmp.resolve("gw.log").toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader log = new BufferedReader(new InputStreamReader(gw.getInputStream(), StandardCharsets.UTF_8));
            assertThat(log.readLine()).startsWith("enclave gateway: listening on https://127.0.0.1:" + port);
            assertThat(log.readLine()).contains("self-signed certificate");
            assertThat(log.readLine()).isEqualTo("enclave gateway: logins are Linux accounts through PAM service "
                    + serviceFile.getFileName() + ", members of group " + group + " only, root refused");

            String url = "https://127.0.0.1:" + port + "/";
            assertThat(curl(url, member + ":" + PASS)).isEqualTo("200 hello " + member);
            assertThat(curl(url, outsider + ":" + PASS)).as("right password, not in the group").startsWith("401 ");
            assertThat(curl(url, member + ":wrong " + PASS)).startsWith("401 ");
        } finally {
            gw.destroy();
            assertThat(gw.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(Files.readString(tmp.resolve("gw.log"))).contains("\"reason\":\"not_in_group " + group + "\"").doesNotContain(PASS);
    }

    /** "STATUS BODY" from curl with Basic credentials, trusting only the gateway's own certificate. */
    private String curl(String url, String credentials) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("curl", "-sS", "--max-time", "20", "--cacert", tmp.resolve("tls/cert.pem").toString(),
                "-u", credentials, "-w", "%{http_code}", "-o", tmp.resolve("body").toString(), url).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out.strip() + " " + Files.readString(tmp.resolve("body"));
    }

    private String account(String role, String... options) throws IOException, InterruptedException {
        String name = "enct" + role + suffix;
        List<String> cmd = new ArrayList<>(List.of("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin"));
        cmd.addAll(List.of(options));
        cmd.add(name);
        run(null, cmd.toArray(String[]::new));
        users.add(name);
        run(name + ":" + PASS + "\n", "chpasswd");
        return name;
    }

    private static String suffix() {
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }




    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }
}
