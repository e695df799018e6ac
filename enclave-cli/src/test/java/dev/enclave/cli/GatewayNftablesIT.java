package dev.enclave.cli;

import static dev.enclave.cli.HostCommand.run;
import static dev.enclave.cli.HostCommand.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code enclave gateway --ban-nftables} from the shaded jar, run inside a throwaway network
 * namespace so the kernel drop is seen at the packet level: curl from a banned loopback address
 * ({@code --interface 127.0.0.2}) gets no answer at all, from another address the gateway answers.
 * Needs root, nft, ip, curl and setpriv (skips otherwise); the namespace is removed afterwards.
 */
class GatewayNftablesIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String GATEWAY = "https://127.0.0.1:8443/";
    /** The operator's own table: it must be left exactly as it was. */
    private static final String OTHER_TABLE = """
            table inet operator_firewall {
              chain input {
                type filter hook input priority filter; policy accept;
                tcp dport 22 accept
              }
            }
            """;

    @TempDir
    Path tmp;
    private String ns;

    @BeforeEach
    void namespace() throws Exception {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "needs root: runs the gateway in a new network namespace with nftables rules (CI runs as root)");
        for (String tool : List.of("nft", "ip", "curl", "setpriv")) {
            assumeTrue(tool(tool) != null, "needs " + tool + " (Debian packages nftables, iproute2, curl, util-linux)");
        }
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        ns = "enclave-test-" + HexFormat.of().formatHex(b);
        run(null, "ip", "netns", "add", ns);
        run(null, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
    }

    @AfterEach
    void removeNamespace() throws Exception {
        if (ns != null) {
            run(null, "ip", "netns", "delete", ns); // ends nothing else: the gateway was stopped by the test
        }
    }

    @Test
    void theKernelDropsBannedSourcesUntilTheyAreUnbannedAndTheTableGoesWithTheGateway() throws Exception {
        Path state = tmp.resolve("state");
        Files.createDirectories(state);
        Path users = tmp.resolve("users");
        assertThat(EnclaveJar.runWithInput("a long passphrase\n", "users", "add", "alice", "--users", users.toString(),
                "--password-stdin").exit()).isZero();
        Files.writeString(state.resolve("bans"), "127.0.0.2 " + Instant.now().plus(Duration.ofMinutes(30)) + "\n");
        run(OTHER_TABLE, "ip", "netns", "exec", ns, "nft", "-f", "-");
        String rulesetBefore = run(null, "ip", "netns", "exec", ns, "nft", "list", "ruleset");

        List<String> cmd = new ArrayList<>(List.of(tool("ip"), "netns", "exec", ns));
        cmd.addAll(EnclaveJar.command("gateway", "--listen", "127.0.0.1:8443", "--upstream", "http://127.0.0.1:9",
                "--state", state.toString(), "--users", users.toString(), "--ban-nftables",
                "--audit", tmp.resolve("gw.log").toString()).command());
        Process gw = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader log = new BufferedReader(new InputStreamReader(gw.getInputStream(), StandardCharsets.UTF_8));
            assertThat(log.readLine()).startsWith("enclave gateway: listening on https://127.0.0.1:8443");

            // The ban from the file is in the kernel with its remaining time (30 min), not the ban length (1 h).
            assertThat(bans4()).containsOnlyKeys("127.0.0.2");
            assertThat(bans4().get("127.0.0.2")).isBetween(30 * 60L - 30, 30 * 60L);

            // Packet level: the banned source's SYN is dropped (curl's connect times out, exit 28, where
            // the gateway's own refusal would close the connection at once); another source gets the gateway.
            assertThat(curl("127.0.0.2", null)).isEqualTo("exit 28");
            assertThat(curl("127.0.0.3", null)).isEqualTo("401");
            assertThat(dropCounter()).as("packets dropped by the gateway's rule").isPositive();

            // Five wrong passwords from 127.0.0.4 ban it, and the kernel drops it from then on.
            for (int i = 0; i < 4; i++) {
                assertThat(curl("127.0.0.4", "alice:wrong")).isEqualTo("401");
            }
            assertThat(curl("127.0.0.4", "alice:wrong")).as("the fifth failure bans").isEqualTo("403");
            eventually(() -> bans4().containsKey("127.0.0.4"));
            assertThat(bans4().get("127.0.0.4")).isBetween(3600L - 30, 3600L);
            assertThat(curl("127.0.0.4", "alice:a long passphrase")).isEqualTo("exit 28");

            // 'enclave bans unban' changes only the file; the running gateway takes the element out.
            assertThat(EnclaveJar.run("bans", "unban", "127.0.0.2", "--state", state.toString()).exit()).isZero();
            eventually(() -> !bans4().containsKey("127.0.0.2"));
            assertThat(curl("127.0.0.2", null)).isEqualTo("401");
        } finally {
            gw.destroy(); // SIGTERM: a clean shutdown
            assertThat(gw.waitFor(20, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(run(null, "ip", "netns", "exec", ns, "nft", "list", "ruleset")).isEqualTo(rulesetBefore);
        assertThat(EnclaveJar.run("bans", "list", "--state", state.toString()).out()).startsWith("127.0.0.4 ");
        assertThat(Files.readString(tmp.resolve("gw.log")))
                .contains("\"event\":\"nftables\"").contains("\"action\":\"create\"").contains("\"action\":\"delete\"")
                .doesNotContain("\"result\":\"failed\"");
    }

    @Test
    void withoutCapNetAdminTheGatewayDoesNotStartAndSaysWhyInOneLine() throws Exception {
        Path state = tmp.resolve("state");
        Files.createDirectories(state);
        Path users = tmp.resolve("users");
        assertThat(EnclaveJar.runWithInput("a long passphrase\n", "users", "add", "alice", "--users", users.toString(),
                "--password-stdin").exit()).isZero();
        // Root, but with CAP_NET_ADMIN gone from the bounding set: the java process and its nft lack it.
        List<String> cmd = new ArrayList<>(List.of(tool("ip"), "netns", "exec", ns, tool("setpriv"), "--bounding-set=-net_admin"));
        cmd.addAll(EnclaveJar.command("gateway", "--listen", "127.0.0.1:8443", "--upstream", "http://127.0.0.1:9",
                "--state", state.toString(), "--users", users.toString(), "--ban-nftables").command());
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err).isEqualTo(2);
        assertThat(err.strip()).isEqualTo("enclave: nft not permitted (Operation not permitted): run the gateway as root "
                + "or with CAP_NET_ADMIN, or drop --ban-nftables");
        assertThat(out).doesNotContain("listening");
    }

    /** The gateway's IPv4 ban set: address to seconds until the kernel forgets it. */
    private Map<String, Long> bans4() throws Exception {
        Map<String, Long> out = new LinkedHashMap<>();
        JsonNode listing = JSON.readTree(run(null, "ip", "netns", "exec", ns, "nft", "-j", "list", "set", "inet",
                "enclave_gateway", "bans4"));
        for (JsonNode n : listing.path("nftables")) {
            for (JsonNode e : n.path("set").path("elem")) {
                out.put(e.path("elem").path("val").asText(), e.path("elem").path("expires").asLong(-1));
            }
        }
        return out;
    }

    /** Packets counted by the gateway's IPv4 drop rule. */
    private long dropCounter() throws Exception {
        JsonNode listing = JSON.readTree(run(null, "ip", "netns", "exec", ns, "nft", "-j", "list", "chain", "inet",
                "enclave_gateway", "input"));
        long packets = 0;
        for (JsonNode n : listing.path("nftables")) {
            for (JsonNode expr : n.path("rule").path("expr")) {
                packets += expr.path("counter").path("packets").asLong(0);
            }
        }
        return packets;
    }

    /** The HTTP status curl got from the gateway from source address {@code from}, or "exit N" when curl failed. */
    private String curl(String from, String credentials) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, "curl", "-sS", "-o", "/dev/null",
                "-w", "%{http_code}", "--interface", from, "--connect-timeout", "3", "--max-time", "20",
                "--cacert", tmp.resolve("state/tls/cert.pem").toString()));
        if (credentials != null) {
            cmd.addAll(List.of("-u", credentials));
        }
        cmd.add(GATEWAY);
        cmd.set(0, tool("ip"));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return p.exitValue() == 0 ? out : "exit " + p.exitValue();
    }

    interface Check {
        boolean holds() throws Exception;
    }

    /** Polls {@code check} for up to 10 s (the gateway writes to nft from its own thread). */
    private static void eventually(Check check) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!check.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s");
            }
            Thread.sleep(100);
        }
    }


}
