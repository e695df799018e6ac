package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code enclave up / status / down} end to end, as root, with the shaded jar: a real namespace,
 * veth, firewall, gateway, egress proxy, relay (to a local fake LLM over TLS) and the built-in demo
 * app running as nobody. Uses its own namespace name and 10.77.93.0/24 so it never meets a real
 * {@code enclave-app}; the defaults themselves are the issue's (see LocalTarget.DEFAULT_CONFIG).
 */
class UpCommandIT {
    private static final String NS = "enclave-upit";
    private static final String HOST = "10.77.93.1";
    private static final String APP = "10.77.93.2";
    private static final int GATEWAY_PORT = 18443;
    private static final String KEY = "sk-up-it-real-key-5f4e3d2c1b0a";
    private static final Pattern PASSWORD = Pattern.compile("created user admin with password (\\S+)");

    private Path base;
    private Path state;
    private Path config;
    private TestPki pki;
    private FakeLlmApi llm;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0, "enclave up needs root (CI runs as root)");
        for (String t : List.of("ip", "nft", "setpriv", "curl", "setsid")) {
            assumeTrue(HostCommand.tool(t) != null, "needs " + t + " (Debian packages iproute2, nftables, util-linux, curl)");
        }
        // The app runs as nobody and must pass through to STATE/app: a 0755 base directory (TempDir's is 0700).
        base = Files.createTempDirectory("enclave-up-it");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        state = base.resolve("state");
        pki = TestPki.forNames("api.llm.test");
        llm = new FakeLlmApi(pki, "127.0.0.1");
        Path ca = pki.writeCaPem(base.resolve("ca.pem"));
        config = writeConfig("");
        EnclaveJar.run("down", "--state", state.toString(), "--netns", NS); // a leftover of an interrupted run
        assertNothingLeft();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (base == null) {
            return;
        }
        try {
            EnclaveJar.Result down = EnclaveJar.run("down", "--state", state.toString(), "--netns", NS);
            assertThat(down.exit()).as(down.err()).isZero();
            assertNothingLeft();
        } finally {
            llm.close();
            try (Stream<Path> files = Files.walk(base)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void upStatusDownTwiceInARowLeaveNoNamespaceVethOrTableBehind() throws Exception {
        String password = null;
        for (int round = 1; round <= 2; round++) {
            EnclaveJar.Result up = up();
            assertThat(up.exit()).as(up.out() + up.err()).isZero();
            assertThat(up.out()).contains("enclave: up in the background").contains("built-in demo app");
            Matcher m = PASSWORD.matcher(up.out());
            if (round == 1) {
                assertThat(m.find()).as(up.out()).isTrue();
                password = m.group(1);
                String users = Files.readString(state.resolve("users"));
                assertThat(users).contains("admin:$argon2id$").doesNotContain(password);
                assertThat(Files.readString(state.resolve("logs/enclave.log"))).doesNotContain(password);
            } else {
                assertThat(m.find()).as("the password is shown on the first run only").isFalse();
            }
            assertThat(HostCommand.run(null, "ip", "netns", "list")).contains(NS);

            EnclaveJar.Result again = up();
            assertThat(again.exit()).isZero();
            assertThat(again.out()).contains("already up");

            EnclaveJar.Result status = EnclaveJar.run("status", "--state", state.toString());
            assertThat(status.exit()).as(status.out() + status.err()).isZero();
            for (String part : List.of("supervisor", "gateway", "egress", "relay", "firewall", "host firewall", "app", "certificate")) {
                assertThat(status.out()).containsPattern("(?m)^" + part + " +ok ");
            }

            // Through the gateway, with the printed password, to the demo app inside the namespace.
            String page = HostCommand.run(null, "curl", "-sS", "-k", "--max-time", "10", "-u", "admin:" + password,
                    "https://127.0.0.1:" + GATEWAY_PORT + "/");
            assertThat(page).contains("Enclave demo app");
            HostCommand.Result wrong = attempt("curl", "-sS", "-k", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                    "-u", "admin:not-the-password", "https://127.0.0.1:" + GATEWAY_PORT + "/");
            assertThat(wrong.output()).isEqualTo("401");

            EnclaveJar.Result down = EnclaveJar.run("down", "--state", state.toString());
            assertThat(down.exit()).as(down.err()).isZero();
            assertThat(down.out()).contains("enclave is down");
            assertNothingLeft();
            assertThat(Files.exists(state.resolve("users"))).as("users are kept").isTrue();
            assertThat(Files.exists(state.resolve("audit/gateway.log"))).as("audit is kept").isTrue();

            EnclaveJar.Result after = EnclaveJar.run("status", "--state", state.toString(), "-c", config.toString(), "--netns", NS);
            assertThat(after.exit()).isEqualTo(1);
            assertThat(after.out()).containsPattern("(?m)^supervisor +FAIL ").containsPattern("(?m)^gateway +FAIL ");
        }
    }

    @Test
    void fromInsideTheNamespaceOnlyTheProxyAndTheRelayAnswerAndTheRealKeyNeverReachesTheApp() throws Exception {
        EnclaveJar.Result up = up();
        assertThat(up.exit()).as(up.out() + up.err()).isZero();

        // The relay: the app's placeholder key is replaced by the real one on the host side.
        HostCommand.Result answer = inside("curl", "-sS", "--max-time", "10", "-H", "Authorization: Bearer placeholder",
                "-H", "Content-Type: application/json", "-d", "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "http://" + HOST + ":4000/v1/chat/completions");
        assertThat(answer.output()).contains(FakeLlmApi.REPLY);
        assertThat(llm.seen()).isNotEmpty();
        assertThat(llm.seen().get(llm.seen().size() - 1).header("authorization")).containsExactly("Bearer " + KEY);
        // ... and the call is audited with its model and token usage (the relay's usage observer and budget are wired in).
        Path relayAudit = state.resolve("audit/relay.log");
        long audited = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!(Files.exists(relayAudit) && Files.readString(relayAudit).contains("\"prompt_tokens\"")) && System.nanoTime() < audited) {
            Thread.sleep(100);
        }
        assertThat(Files.readString(relayAudit)).contains("\"model\":\"gpt-test\"", "\"prompt_tokens\":" + FakeLlmApi.PROMPT_TOKENS).doesNotContain(KEY);

        // The egress proxy answers, and refuses what the (empty) allowlist does not name.
        HostCommand.Result denied = inside("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                "-x", "http://" + HOST + ":3128", "https://example.com/");
        assertThat(denied.output()).contains("403");

        // Another port on the same host side is dropped by the firewall (a listener is there).
        try (ServerSocket other = new ServerSocket()) {
            other.bind(new InetSocketAddress(InetAddress.getByName(HOST), 4001));
            HostCommand.Result dropped = inside("curl", "-sS", "--connect-timeout", "3", "http://" + HOST + ":4001/");
            assertThat(dropped.exit()).as(dropped.output()).isEqualTo(28); // curl: timeout, the SYN was dropped
        }

        // The app: runs as nobody, sees the relay and the proxy, never the key.
        Properties p = new Properties();
        try (var r = Files.newBufferedReader(state.resolve("run/up.properties"))) {
            p.load(r);
        }
        String appPid = p.getProperty("app_pid");
        String environ = new String(Files.readAllBytes(Path.of("/proc", appPid, "environ")), StandardCharsets.UTF_8);
        String cmdline = new String(Files.readAllBytes(Path.of("/proc", appPid, "cmdline")), StandardCharsets.UTF_8);
        assertThat(environ).contains("OPENAI_BASE_URL=http://" + HOST + ":4000/v1").contains("HTTPS_PROXY=http://" + HOST + ":3128")
                .contains("https_proxy=http://" + HOST + ":3128").contains("NO_PROXY=").contains("OPENAI_API_KEY=sk-enclave-placeholder");
        assertThat(environ).doesNotContain(KEY).doesNotContain("ENCLAVE_LLM_API_KEY");
        assertThat(cmdline).doesNotContain(KEY);
        assertThat(Files.readString(Path.of("/proc", appPid, "status"))).containsPattern("(?m)^Uid:\\s+65534\\s");
        assertThat(environ).contains("HOME=" + state.resolve("app/home"));
        // The demo app, through the gateway as a browser would call it: the page's WebSocket gets an
        // answer streamed from the (fake) LLM through the relay, and the egress proxy refuses a URL
        // not on the allowlist.
        Matcher m = PASSWORD.matcher(up.out());
        assertThat(m.find()).isTrue();
        String login = "admin:" + m.group(1);
        int before = llm.seen().size();
        // Streamed, not buffered: with the fake LLM holding its stream after the first piece, that
        // piece has already reached the WebSocket client through relay, app and gateway.
        llm.holdStreams();
        DemoSocket ask;
        try {
            ask = DemoSocket.open(state, GATEWAY_PORT, login, "https://127.0.0.1:" + GATEWAY_PORT);
            ask.send("say three words");
            assertThat(ask.next()).isEqualTo("{\"text\":\"one\"}");
            assertThat(llm.streamOutcome()).isNotDone();
        } finally {
            llm.releaseStreams();
        }
        assertThat(List.of(ask.next(), ask.next(), ask.next())).containsExactly("{\"text\":\"two\"}", "{\"text\":\"three\"}", "{\"done\":true}");
        ask.close();
        assertThat(llm.seen()).hasSizeGreaterThan(before);
        assertThat(llm.seen().get(llm.seen().size() - 1).header("authorization")).containsExactly("Bearer " + KEY);
        // A page of another site cannot open it with the user's credentials (cross-site WebSocket hijacking).
        assertThat(DemoSocket.refusal(state, GATEWAY_PORT, login, "https://evil.example")).isEqualTo(403);

        String reached = HostCommand.run(null, "curl", "-sS", "-k", "--max-time", "20", "-u", login, "-H", "X-Demo: 1",
                "--data-binary", "https://example.com/", "https://127.0.0.1:" + GATEWAY_PORT + "/reach");
        assertThat(reached).contains("egress proxy " + HOST + ":3128 answered: HTTP/1.1 403").contains("reason: host_not_allowed");
        String noHeader = HostCommand.run(null, "curl", "-sS", "-k", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                "-u", login, "--data-binary", "x", "https://127.0.0.1:" + GATEWAY_PORT + "/reach");
        assertThat(noHeader).as("a cross-site form cannot set X-Demo").isEqualTo("405");

        // The app's user cannot change the namespace's firewall (no CAP_NET_ADMIN, no_new_privs).
        HostCommand.Result asApp = inside("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--",
                HostCommand.tool("nft"), "add", "rule", "inet", "enclave", "output", "accept");
        assertThat(asApp.exit()).isNotZero();
        assertThat(asApp.output()).contains("Operation not permitted");
        HostCommand.Result routeAsApp = inside("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--",
                HostCommand.tool("ip"), "route", "add", "default", "via", HOST);
        assertThat(routeAsApp.exit()).isNotZero();

        // Tampering with the table inside the namespace shows as firewall drift.
        HostCommand.run(null, "ip", "netns", "exec", NS, "nft", "add", "rule", "inet", "enclave", "output", "accept");
        EnclaveJar.Result status = EnclaveJar.run("status", "--state", state.toString());
        assertThat(status.exit()).isEqualTo(1);
        assertThat(status.out()).containsPattern("(?m)^firewall +FAIL +1 difference \\(chain output: rule added")
                .containsPattern("(?m)^gateway +ok ");
        // Root inside the namespace can flush its table; the host-side one still drops another host port.
        HostCommand.run(null, "ip", "netns", "exec", NS, "nft", "flush", "ruleset");
        try (ServerSocket other = new ServerSocket()) {
            other.bind(new InetSocketAddress(InetAddress.getByName(HOST), 4001));
            HostCommand.Result dropped = inside("curl", "-sS", "--connect-timeout", "3", "http://" + HOST + ":4001/");
            assertThat(dropped.exit()).as(dropped.output()).isEqualTo(28);
        }
        HostCommand.Result proxyAfterFlush = inside("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                "-x", "http://" + HOST + ":3128", "https://example.com/");
        assertThat(proxyAfterFlush.output()).as("the proxy still answers").contains("403");
        EnclaveJar.Result flushed = EnclaveJar.run("status", "--state", state.toString());
        assertThat(flushed.out()).containsPattern("(?m)^firewall +FAIL +1 difference \\(table inet enclave is missing")
                .containsPattern("(?m)^host firewall +ok ");
        // Nor in anything Enclave wrote.
        try (Stream<Path> files = Files.walk(state)) {
            for (Path f : files.filter(Files::isRegularFile).filter(f -> !f.endsWith("enclave.jar")).toList()) {
                assertThat(Files.readString(f, StandardCharsets.ISO_8859_1)).as(f.toString()).doesNotContain(KEY);
            }
        }
    }

    @Test
    void inTheForegroundItRunsUntilSigtermAndThenLeavesNothingBehind() throws Exception {
        ProcessBuilder pb = EnclaveJar.command("up", "--foreground", "-c", config.toString(), "--state", state.toString(), "--netns", NS)
                .redirectErrorStream(true);
        pb.environment().put("ENCLAVE_LLM_API_KEY", KEY);
        Process p = pb.start();
        p.getOutputStream().close();
        List<String> printed = new ArrayList<>();
        try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                printed.add(line);
                if (line.startsWith("enclave: it is shown only this once")) {
                    break;
                }
            }
            assertThat(String.join("\n", printed)).contains("enclave: up (supervisor pid " + p.pid())
                    .containsPattern("created user admin with password \\S{20}");
            EnclaveJar.Result status = EnclaveJar.run("status", "--state", state.toString());
            assertThat(status.exit()).as(status.out()).isZero();
            p.toHandle().destroy(); // SIGTERM, as Ctrl-C or systemd would (Process.destroy would also close our end of its output)
            String rest = String.join("\n", lines.lines().toList()); // until the process closes its output
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(rest).contains("enclave: stopped; network namespace " + NS + " removed");
        }
        assertNothingLeft();
        assertThat(UpState.read(state)).isEmpty();
    }

    @Test
    void notRootExitsTwoWithOneLine() throws Exception {
        Path jar = base.resolve("enclave.jar");
        Files.copy(EnclaveJar.jar(), jar);
        Files.setPosixFilePermissions(jar, PosixFilePermissions.fromString("rw-r--r--"));
        HostCommand.Result r = attempt("setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups", "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar.toString(),
                "up", "--state", state.toString(), "-c", config.toString(), "--netns", NS);
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.output().strip().lines()).hasSize(1);
        assertThat(r.output()).startsWith("enclave: 'enclave up' needs root").contains("sudo ./enclave up");
        assertThat(Files.exists(state)).as("nothing was written").isFalse();
    }

    @Test
    void aPortInUseExitsTwoAndChangesNothing() throws Exception {
        try (ServerSocket busy = new ServerSocket()) {
            busy.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), GATEWAY_PORT));
            EnclaveJar.Result up = up();
            assertThat(up.exit()).isEqualTo(2);
            assertThat(up.err().strip().lines()).hasSize(1);
            assertThat(up.err()).contains("port in use: 127.0.0.1:" + GATEWAY_PORT + " (gateway.listen)").contains("ss -ltnp");
        }
        assertNothingLeft();
        assertThat(Files.exists(state.resolve("users"))).as("no admin was made").isFalse();
    }

    @Test
    void aBadConfigExitsTwoWithOneLineNamingTheKeyAndWritesNothing() throws Exception {
        Path bad = base.resolve("bad.yaml");
        Files.writeString(bad, Files.readString(config).replace("listen: " + HOST + ":3128", "listen: 0.0.0.0:3128") + "bogus: 1\n");
        ProcessBuilder pb = EnclaveJar.command("up", "-c", bad.toString(), "--netns", NS);
        pb.environment().put("ENCLAVE_STATE_DIR", state.toString()); // the state directory from the environment
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(out).isEmpty();
        assertThat(err.strip().lines()).hasSize(1);
        assertThat(err).startsWith("enclave: ").contains("bogus");
        assertNothingLeft();
        assertThat(Files.exists(state)).as("nothing was written, not even the state directory").isFalse();
    }

    @Test
    void anAppThatExitsFailsUpAndEverythingMadeIsUndone() throws Exception {
        config = writeConfig("app:\n  command: [ /bin/sh, -c, \"echo app cannot start; exit 3\" ]\n");
        EnclaveJar.Result up = up();
        assertThat(up.exit()).as(up.out() + up.err()).isEqualTo(2);
        assertThat(up.err().strip().lines()).hasSize(1);
        assertThat(up.err()).contains("the app exited (status 3): app cannot start");
        assertNothingLeft();
        assertThat(UpState.read(state)).isEmpty();
        String users = Files.exists(state.resolve("users")) ? Files.readString(state.resolve("users")) : "";
        assertThat(users).as("the admin whose password nobody saw is taken back").doesNotContain("admin:");
    }

    private EnclaveJar.Result up() throws IOException, InterruptedException {
        ProcessBuilder pb = EnclaveJar.command("up", "-c", config.toString(), "--state", state.toString(), "--netns", NS);
        pb.environment().put("ENCLAVE_LLM_API_KEY", KEY);
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes(); // the detached supervisor writes to its log, not to these pipes
        byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(240, TimeUnit.SECONDS)).isTrue();
        return new EnclaveJar.Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    private Path writeConfig(String extra) throws IOException {
        Path file = base.resolve("enclave.yaml");
        Files.writeString(file, """
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
                """.formatted(GATEWAY_PORT, APP, HOST, APP, HOST, llm.port(), base.resolve("ca.pem"), HOST) + extra);
        return file;
    }

    private static void assertNothingLeft() throws IOException, InterruptedException {
        assertThat(HostCommand.run(null, "ip", "netns", "list")).doesNotContain(NS);
        assertThat(Files.exists(Path.of("/sys/class/net/ve-" + NS))).as("veth ve-" + NS).isFalse();
        assertThat(Files.exists(Path.of("/run/netns", NS))).isFalse();
        assertThat(HostCommand.run(null, "nft", "list", "tables")).as("the host-side table").doesNotContain("enclave_host_" + NS);
    }

    private static HostCommand.Result inside(String... cmd) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", NS));
        full.addAll(List.of(cmd));
        return attempt(full.toArray(String[]::new));
    }

    private static HostCommand.Result attempt(String... cmd) throws IOException, InterruptedException {
        String[] resolved = cmd.clone();
        String path = HostCommand.tool(cmd[0]);
        if (path != null) {
            resolved[0] = path;
        }
        Process p = new ProcessBuilder(resolved).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish");
        }
        return new HostCommand.Result(p.exitValue(), out);
    }
}
