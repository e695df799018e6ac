package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The {@code enclave} command as a user runs it: the shaded jar in its own JVM. */
class EnclaveCliIT {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "''{0} --help'' prints usage and exits 0")
    @ValueSource(strings = {"", "egress", "gateway", "config", "config check", "users", "users add", "users passwd", "users del", "users list", "users import-htpasswd", "bans", "bans list", "bans unban"})
    void everyCommandHasHelp(String command) throws Exception {
        String[] args = (command.isEmpty() ? "--help" : command + " --help").split(" ");
        EnclaveJar.Result r = EnclaveJar.run(args);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("Usage: enclave");
    }

    @Test
    void unknownCommandIsAUsageError() throws Exception {
        EnclaveJar.Result r = EnclaveJar.run("egres");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("egres");
    }

    @ParameterizedTest(name = "egress {0} exits 2 with a one-line reason")
    @ValueSource(strings = {
        "--allow *.com:443|covers a whole top-level domain",
        "--allow api.openai.com|has no port",
        "--allow 10.0.0.1:443|is an IP address",
        "--allow-cidr 10.0.0.1/8|host bits set",
        "--listen localhost:3128|not a numeric IP address",
        "--mode audit|is not enforce | report",
        "--resolve api.test|is not NAME=IP",
        "--head-timeout 10|bad duration"})
    void badEgressFlagsExit2WithOneLine(String spec) throws Exception {
        String[] parts = spec.split("\\|");
        String[] flag = parts[0].split(" ", 2);
        EnclaveJar.Result r = EnclaveJar.run("egress", flag[0], flag[1]);
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().strip()).doesNotContain("\n").contains(parts[1]).startsWith("enclave: " + flag[0]);
        assertThat(r.err()).doesNotContain("Exception");
    }

    @Test
    void configCheckSaysOkForAGoodFile() throws Exception {
        Path file = Files.writeString(tmp.resolve("enclave.yaml"), "egress:\n  listen: 127.0.0.1:3128\n  allow: [ \"api.openai.com:443\" ]\n");
        EnclaveJar.Result r = EnclaveJar.run("config", "check", "-c", file.toString());
        assertThat(r.exit()).isZero();
        assertThat(r.out().strip()).isEqualTo("ok");
    }

    @Test
    void configCheckListsEveryProblemWithFileLineAndKey() throws Exception {
        Path file = Files.writeString(tmp.resolve("enclave.yaml"),
                "egress:\n  listen: 127.0.0.1:3128\n  alow: [ \"api.openai.com:443\" ]\n  limits:\n    idle_timeout: 10 minutes\n");
        EnclaveJar.Result r = EnclaveJar.run("config", "check", "-c", file.toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().lines()).containsExactly(
                file + ":3 egress.alow: unknown key; did you mean \"allow\"?",
                file + ":5 egress.limits.idle_timeout: bad duration \"10 minutes\"; write a number and a unit: 500ms, 30s, 10m, 1h, 7d");
    }

    @Test
    void egressRefusesToStartOnABadConfigFile() throws Exception {
        Path file = Files.writeString(tmp.resolve("enclave.yaml"), "egress:\n  allow: [ \"*.com:443\" ]\n");
        EnclaveJar.Result r = EnclaveJar.run("egress", "-c", file.toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains(file + ":2 egress.allow[0]").contains("top-level domain");
    }

    @Test
    void egressSaysWhenItsPortIsTaken() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            EnclaveJar.Result r = EnclaveJar.run("egress", "--listen", "127.0.0.1:" + taken.getLocalPort(),
                    "--allow", "api.openai.com:443");
            assertThat(r.exit()).isEqualTo(2);
            assertThat(r.err()).contains("cannot listen on 127.0.0.1:" + taken.getLocalPort()).contains("--listen");
        }
    }

    @Test
    void egressReloadsItsAllowlistOnFileChangeAndSighupKeepingOpenTunnels() throws Exception {
        try (ServerSocket echo = echoServer()) {
            int echoPort = echo.getLocalPort();
            int proxyPort = freePort();
            Path audit = tmp.resolve("audit.log");
            Path file = tmp.resolve("enclave.yaml");
            writeAllow(file, proxyPort, echoPort, "a.test", "b.test");
            Process proxy = EnclaveJar.command("egress", "-c", file.toString(), "--audit", audit.toString())
                    .redirectErrorStream(true).start();
            BufferedReader log = new BufferedReader(new InputStreamReader(proxy.getInputStream(), StandardCharsets.UTF_8));
            try {
                assertThat(log.readLine()).startsWith("enclave egress: listening on 127.0.0.1:" + proxyPort);
                try (Socket open = connect(proxyPort, "b.test:" + echoPort, 200)) {
                    // File change: b.test is dropped; the watcher polls every 2 s.
                    writeAllow(file, proxyPort, echoPort, "a.test");
                    assertThat(log.readLine()).startsWith("enclave egress: reloaded");
                    assertThat(status(proxyPort, "b.test:" + echoPort)).isEqualTo(403);
                    assertThat(status(proxyPort, "a.test:" + echoPort)).isEqualTo(200);
                    assertThat(roundTrip(open, "still open")).isEqualTo("still open");

                    // SIGHUP: restore b.test but keep the old mtime, so only the signal can reload it.
                    FileTime before = Files.getLastModifiedTime(file);
                    writeAllow(file, proxyPort, echoPort, "a.test", "b.test");
                    Files.setLastModifiedTime(file, before);
                    new ProcessBuilder("kill", "-HUP", Long.toString(proxy.pid())).start().waitFor(5, TimeUnit.SECONDS);
                    assertThat(log.readLine()).startsWith("enclave egress: reloaded");
                    assertThat(status(proxyPort, "b.test:" + echoPort)).isEqualTo(200);

                    // An invalid edit is refused and the running allowlist stays.
                    Files.writeString(file, "egress:\n  allow: [ \"*.com:443\" ]\n");
                    assertThat(log.readLine()).startsWith("enclave egress: reload refused");
                    assertThat(status(proxyPort, "b.test:" + echoPort)).isEqualTo(200);
                }
            } finally {
                proxy.destroy();
                assertThat(proxy.waitFor(10, TimeUnit.SECONDS)).isTrue();
            }
            String lines = Files.readString(audit);
            assertThat(lines).contains("\"event\":\"reload\"").contains("\"reason\":\"host_not_allowed\"");
        }
    }

    @Test
    void gatewayStartsWithASelfSignedCertificateAndSaysItsFingerprint() throws Exception {
        int port = freePort();
        Process gw = EnclaveJar.command("gateway", "--listen", "127.0.0.1:" + port, "--upstream", "http://127.0.0.1:9",
                "--state", tmp.toString(), "--name", "gw.test", "--audit", tmp.resolve("gw.log").toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader log = new BufferedReader(new InputStreamReader(gw.getInputStream(), StandardCharsets.UTF_8));
            assertThat(log.readLine()).isEqualTo("enclave gateway: listening on https://127.0.0.1:" + port + ", proxying to http://127.0.0.1:9");
            assertThat(log.readLine()).contains("self-signed certificate").containsPattern("SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}");
            assertThat(Files.exists(tmp.resolve("tls/key.pem"))).isTrue();
        } finally {
            gw.destroy();
            assertThat(gw.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void gatewayWithACorruptSessionsFileExits2NamingTheFileAndTheFix() throws Exception {
        Path sessions = tmp.resolve("sessions");
        Files.writeString(sessions, "garbage\n");
        Files.setPosixFilePermissions(sessions, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        EnclaveJar.Result r = EnclaveJar.run("gateway", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9",
                "--state", tmp.toString(), "--audit", tmp.resolve("gw.log").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().strip()).isEqualTo("enclave: " + sessions + ":1: not a session line (sha256-of-token user created "
                + "last-seen credential-stamp, each once); delete the file to end every browser session (users log in again), "
                + "then start the gateway again");
    }

    @Test
    void gatewayReloadsItsCertificateOnSighup() throws Exception {
        int port = freePort();
        Process gw = EnclaveJar.command("gateway", "--listen", "127.0.0.1:" + port, "--upstream", "http://127.0.0.1:9",
                "--state", tmp.toString(), "--name", "gw.test", "--audit", tmp.resolve("gw.log").toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader log = new BufferedReader(new InputStreamReader(gw.getInputStream(), StandardCharsets.UTF_8));
            assertThat(log.readLine()).startsWith("enclave gateway: listening on");
            String fingerprint = log.readLine().replaceAll(".*SHA-256 (\\S+) .*", "$1");
            // The files are unchanged, so the watcher has nothing to do: the line below comes from the signal.
            new ProcessBuilder("kill", "-HUP", Long.toString(gw.pid())).start().waitFor(5, TimeUnit.SECONDS);
            assertThat(log.readLine()).isEqualTo("enclave gateway: TLS certificate reloaded from " + tmp.resolve("tls/cert.pem")
                    + ", SHA-256 " + fingerprint);
        } finally {
            gw.destroy();
            assertThat(gw.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(Files.readString(tmp.resolve("gw.log"))).contains("\"event\":\"tls_reload\",\"result\":\"ok\"");
    }

    @ParameterizedTest(name = "gateway {0} exits 2 with a one-line reason")
    @ValueSource(strings = {
        "--listen 127.0.0.1:0|no upstream",
        "--upstream https://app:3000|must be http://HOST:PORT",
        "--upstream http://127.0.0.1:3000 --tls-cert /nonexistent|go together",
        "--upstream http://127.0.0.1:3000 --listen nowhere|has no port",
        "--upstream http://127.0.0.1:3000 --listen app.local:8443|not a numeric IP address",
        "--upstream http://127.0.0.1:3000 --pam login --users /tmp/users|give either --users FILE or --pam SERVICE, not both",
        "--upstream http://127.0.0.1:3000 --pam-group wheel|--pam-group applies to Linux accounts only",
        "--upstream http://127.0.0.1:3000 --listen 127.0.0.1:0 --pam enclave-no-such-service|/etc/pam.d/enclave-no-such-service does not exist; create it"})
    void badGatewayFlagsExit2WithOneLine(String spec) throws Exception {
        String[] parts = spec.split("\\|");
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("gateway", "--state", tmp.toString()));
        args.addAll(java.util.List.of(parts[0].split(" ")));
        EnclaveJar.Result r = EnclaveJar.run(args.toArray(String[]::new));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().strip()).doesNotContain("\n").contains(parts[1]).startsWith("enclave: ");
    }

    @Test
    void reportModeIsAnnouncedAtStart() throws Exception {
        int proxyPort = freePort();
        Process proxy = EnclaveJar.command("egress", "--listen", "127.0.0.1:" + proxyPort, "--mode", "report",
                "--audit", tmp.resolve("a.log").toString()).redirectErrorStream(true).start();
        try {
            BufferedReader log = new BufferedReader(new InputStreamReader(proxy.getInputStream(), StandardCharsets.UTF_8));
            log.readLine();
            assertThat(log.readLine()).contains("REPORT MODE").contains("nothing on the allowlist is enforced");
        } finally {
            proxy.destroy();
            proxy.waitFor(10, TimeUnit.SECONDS);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static void writeAllow(Path file, int proxyPort, int echoPort, String... names) throws IOException {
        StringBuilder y = new StringBuilder("egress:\n  listen: 127.0.0.1:" + proxyPort + "\n  allow:\n");
        for (String n : names) {
            y.append("    - \"").append(n).append(':').append(echoPort).append("\"\n");
        }
        y.append("  resolve:\n");
        for (String n : new String[] {"a.test", "b.test"}) {
            y.append("    - \"").append(n).append("=127.0.0.1\"\n");
        }
        y.append("  allow_cidr: [ \"127.0.0.1/32\" ]\n");
        Files.writeString(file, y);
    }

    private static int status(int proxyPort, String target) throws IOException {
        try {
            connect(proxyPort, target, -1).close();
            throw new AssertionError("no status can equal -1");
        } catch (StatusException e) {
            return e.status;
        }
    }

    /** Opens a tunnel; throws StatusException with the status unless it equals {@code expect}. */
    private static Socket connect(int proxyPort, String target, int expect) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", proxyPort), 5000);
        s.setSoTimeout(10_000);
        s.getOutputStream().write(("CONNECT " + target + " HTTP/1.1\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.append((char) b);
        }
        int status = Integer.parseInt(head.substring(9, 12));
        if (status != expect) {
            s.close();
            throw new StatusException(status);
        }
        return s;
    }

    private static String roundTrip(Socket s, String text) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return new String(s.getInputStream().readNBytes(text.length()), StandardCharsets.US_ASCII);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    private static ServerSocket echoServer() throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress("127.0.0.1", 0));
        Thread t = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket c = server.accept();
                    Thread w = new Thread(() -> {
                        try (c) {
                            c.getInputStream().transferTo(c.getOutputStream());
                        } catch (IOException ignored) {
                            // peer closed
                        }
                    });
                    w.setDaemon(true);
                    w.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return server;
    }

    private static final class StatusException extends IOException {
        private static final long serialVersionUID = 1L;
        final int status;

        StatusException(int status) {
            super("status " + status);
            this.status = status;
        }
    }

}
