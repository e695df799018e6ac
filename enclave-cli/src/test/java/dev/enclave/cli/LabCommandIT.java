package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code enclave lab up|verify|down} end to end, as root, with the shaded jar: the lab's three
 * namespaces, the fake internet, Enclave itself in enclave-pub, and every check of the matrix with
 * real traffic. Every Enclave row must pass, twice in a row (the ban check attacks from a new
 * address each time), and down must leave no namespace, link or process, also after {@code up}
 * was killed halfway.
 */
class LabCommandIT {
    private static final List<String> NAMESPACES = List.of("enclave-net", "enclave-pub", "enclave-app", "enclave-ctr");
    private static final ObjectMapper JSON = new ObjectMapper();

    private Path base;
    private Path lab;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0, "enclave lab needs root (CI runs as root)");
        for (String t : List.of("ip", "nft", "setpriv", "nsenter", "setsid", "curl", "dig", "wget", "socat", "ping", "sysctl")) {
            assumeTrue(HostCommand.tool(t) != null, "needs " + t + " (Debian packages iproute2, nftables, util-linux, curl, "
                    + "bind9-dnsutils, wget, socat, iputils-ping, procps)");
        }
        for (String ns : NAMESPACES) {
            assumeTrue(!Files.exists(Path.of("/run/netns", ns)), "namespace " + ns + " exists: a lab or 'enclave up' is running on this host");
        }
        // The app runs as nobody and must pass through to the lab's directory: a 0755 base (TempDir's is 0700).
        base = Files.createTempDirectory("enclave-lab-it");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        lab = base.resolve("lab");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (lab != null) {
            Run down = enclave("lab", "down", "--state", lab.toString());
            assertThat(down.exit()).as(down.output()).isZero();
            assertNothingLeft();
        }
    }

    @Test
    void upVerifyDownPassesEveryEnclaveRowTwiceAndLeavesNothing() throws Exception {
        long start = System.nanoTime();
        Run up = enclave("lab", "up", "--state", lab.toString());
        assertThat(up.exit()).as(up.output()).isZero();
        assertThat(up.output()).contains("enclave lab: up (design enclave");
        for (String ns : NAMESPACES) {
            assertThat(Path.of("/run/netns", ns)).exists();
        }

        Path json = base.resolve("lab.json");
        Path junit = base.resolve("lab-junit.xml");
        Run verify = enclave("lab", "verify", "--state", lab.toString(), "--json", json.toString(), "--junit", junit.toString());
        assertThat(verify.exit()).as(verify.output()).isZero();
        JsonNode report = JSON.readTree(json.toFile());
        assertThat(report.path("design").asText()).isEqualTo("enclave");
        List<String> ids = new ArrayList<>();
        for (JsonNode row : report.path("rows")) {
            ids.add(row.path("id").asText());
            assertThat(row.path("passed").asBoolean()).as(row.toString()).isTrue();
            assertThat(row.path("result").asText()).isEqualTo(row.path("expected").asText());
            assertThat(row.path("evidence").asText()).isNotBlank();
        }
        assertThat(ids).contains("seed.curl-google", "seed.curl-github", "seed.curl-llm", "llm.address-change", "seed.dig", "seed.ntp", "seed.ping",
                "seed.wget-example", "llm.direct", "llm.own-key", "llm.read-key", "llm.neighbour", "dns.exfiltration", "metadata",
                "container.google", "container.metadata", "firewall.flush", "ingress.app-direct", "ingress.plain-http", "ingress.no-credentials", "ingress.right-credentials",
                "ingress.brute-force");
        assertThat(report.path("failures").asInt()).isZero();
        String xml = Files.readString(junit);
        assertThat(xml).contains("<testsuite name=\"enclave-lab.enclave\" tests=\"" + ids.size() + "\" failures=\"0\"")
                .doesNotContain("<failure");
        assertThat(verify.output()).contains("CHECK", "EXPECTED", "RESULT", "EVIDENCE")
                .contains("all " + ids.size() + " checks as expected")
                .contains("the proxy resolves names; DNS is an exfiltration channel");

        // Again on the same lab: nothing the first run did (a ban, a call) spoils the second.
        Run again = enclave("lab", "verify", "--state", lab.toString());
        assertThat(again.exit()).as(again.output()).isZero();
        assertThat(again.output()).contains("from 10.0.0.101:");

        Run down = enclave("lab", "down", "--state", lab.toString());
        assertThat(down.exit()).as(down.output()).isZero();
        assertThat(down.output()).contains("enclave lab: down:");
        assertNothingLeft();
        System.out.printf("lab up + verify + verify + down: %d ms%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));

        Run downAgain = enclave("lab", "down", "--state", lab.toString());
        assertThat(downAgain.exit()).isZero();
        assertThat(downAgain.output()).contains("nothing was up");
    }

    /**
     * The seed design: the same checks show exactly the seed's holes, each as the expected result with
     * its evidence; a second verify shows the flush check put the seed's rules back; down removes the
     * seed's user, its sudoers file and the namespace's resolv.conf with the namespaces.
     */
    @Test
    void seedDesignShowsExactlyTheSeedsHolesAndLeavesNothing() throws Exception {
        assumeTrue(HostCommand.tool("iptables") != null && HostCommand.tool("sudo") != null, "needs iptables and sudo (Debian packages)");
        assumeTrue(!Files.exists(Path.of("/etc/sudoers.d/enclave-seed-app")), "/etc/sudoers.d/enclave-seed-app exists: a seed lab is up");
        long start = System.nanoTime();
        Run up = enclave("lab", "up", "--design", "seed", "--state", lab.toString());
        assertThat(up.exit()).as(up.output()).isZero();
        assertThat(up.output()).contains("enclave lab: up (design seed");
        assertThat(Path.of("/etc/sudoers.d/enclave-seed-app")).exists();
        assertThat(HostCommand.run(null, "ip", "netns", "exec", "enclave-app", "iptables", "-S", "OUTPUT")).contains("-P OUTPUT DROP")
                .contains("-A OUTPUT -d 203.0.113.10/32 -p tcp -m tcp --dport 443 -j ACCEPT");
        // Nothing of Enclave's on the app's way out: its table in enclave-app is gone.
        assertThat(HostCommand.run(null, "ip", "netns", "exec", "enclave-app", "nft", "list", "tables").lines().map(String::strip))
                .doesNotContain("table inet enclave");

        Path json = base.resolve("seed.json");
        Run verify = enclave("lab", "verify", "--state", lab.toString(), "--json", json.toString());
        assertThat(verify.exit()).as(verify.output()).isZero();
        JsonNode report = JSON.readTree(json.toFile());
        assertThat(report.path("design").asText()).isEqualTo("seed");
        java.util.Map<String, String> results = new java.util.LinkedHashMap<>();
        java.util.Map<String, String> evidence = new java.util.LinkedHashMap<>();
        for (JsonNode row : report.path("rows")) {
            assertThat(row.path("passed").asBoolean()).as(row.toString()).isTrue();
            results.put(row.path("id").asText(), row.path("result").asText());
            evidence.put(row.path("id").asText(), row.path("evidence").asText());
        }
        // The seed's holes: each one open, as expected of its design.
        for (String hole : List.of("llm.direct", "llm.own-key", "llm.read-key", "llm.neighbour", "dns.exfiltration", "container.google",
                "container.metadata", "firewall.flush")) {
            assertThat(results.get(hole)).as(hole).isEqualTo("WORKS");
        }
        assertThat(results.get("llm.address-change")).isEqualTo("FAIL");
        // And its own list holds, as the guide says.
        assertThat(results).containsEntry("seed.curl-google", "FAIL").containsEntry("seed.curl-github", "FAIL")
                .containsEntry("seed.curl-llm", "WORKS").containsEntry("seed.dig", "WORKS").containsEntry("seed.ntp", "WORKS")
                .containsEntry("seed.ping", "FAIL").containsEntry("seed.wget-example", "FAIL").containsEntry("metadata", "FAIL")
                .containsEntry("ingress.right-credentials", "WORKS").containsEntry("ingress.app-direct", "FAIL");
        assertThat(evidence.get("container.metadata")).contains("with the instance credentials");
        assertThat(evidence.get("container.google")).contains("HTTP 200");
        assertThat(evidence.get("firewall.flush")).contains("sudo -n iptables -F OUTPUT: exit 0", "are GONE");
        assertThat(evidence.get("llm.read-key")).contains("openhands.service: the key");
        assertThat(evidence.get("llm.own-key")).containsPattern("the app's key on [1-9]");
        assertThat(evidence.get("dns.exfiltration")).containsPattern("the resolver logged [1-9]");
        assertThat(evidence.get("llm.address-change")).contains("arrived at nowhere");

        // The flush check put the seed's rules back: the same rows again.
        Run again = enclave("lab", "verify", "--state", lab.toString());
        assertThat(again.exit()).as(again.output()).isZero();

        Run down = enclave("lab", "down", "--state", lab.toString());
        assertThat(down.exit()).as(down.output()).isZero();
        assertThat(down.output()).contains("/etc/sudoers.d/enclave-seed-app", "user enclave-seed-app");
        assertNothingLeft();
        System.out.printf("lab up + verify + verify + down (seed): %d ms%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    @Test
    void downRemovesEverythingAfterUpWasKilledHalfway() throws Exception {
        ProcessBuilder pb = command("lab", "up", "--state", lab.toString()).redirectErrorStream(true)
                .redirectOutput(base.resolve("up.out").toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process up = pb.start();
        // Kill it once Enclave's own 'up' is under way in enclave-pub: the fake internet runs, the
        // supervisor is making (or has made) the app's namespace.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(Path.of("/run/netns/enclave-app")) && up.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20); // polling for the namespace to appear
        }
        assertThat(Path.of("/run/netns/enclave-app")).as(Files.readString(base.resolve("up.out"))).exists();
        up.destroyForcibly();
        up.waitFor(10, TimeUnit.SECONDS);

        Run down = enclave("lab", "down", "--state", lab.toString());
        assertThat(down.exit()).as(down.output()).isZero();
        assertNothingLeft();
        Run upAgain = enclave("lab", "up", "--state", lab.toString());
        assertThat(upAgain.exit()).as("a clean lab comes up after the crash: " + upAgain.output()).isZero();
    }

    @Test
    void notRootExitsTwoWithOneLineNamingTheFix() throws Exception {
        Path jar = base.resolve("enclave.jar");
        Files.copy(EnclaveJar.jar(), jar);
        Files.setPosixFilePermissions(jar, PosixFilePermissions.fromString("rw-r--r--"));
        Process p = new ProcessBuilder(HostCommand.tool("setpriv"), "--reuid=nobody", "--regid=65534", "--clear-groups", "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar.toString(),
                "lab", "up", "--state", lab.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(out.strip().lines()).hasSize(1);
        assertThat(out).startsWith("enclave: 'enclave lab up' needs root").contains("sudo ./enclave lab up");
        assertThat(lab).doesNotExist();
    }

    private void assertNothingLeft() throws IOException, InterruptedException {
        for (String ns : NAMESPACES) {
            assertThat(Path.of("/run/netns", ns)).as("namespace " + ns).doesNotExist();
        }
        assertThat(HostCommand.run(null, "ip", "netns", "list")).doesNotContain("enclave-net", "enclave-pub", "enclave-app");
        assertThat(HostCommand.run(null, "ip", "-o", "link")).doesNotContain("ve-enclave-app", "to-pub");
        // The seed design's traces outside the namespaces.
        assertThat(Path.of("/etc/sudoers.d/enclave-seed-app")).doesNotExist();
        assertThat(Path.of("/etc/netns/enclave-app")).doesNotExist();
        assertThat(Files.readString(Path.of("/etc/passwd"))).doesNotContain("enclave-seed-app:");
        String dir = lab.toString();
        List<String> left = ProcessHandle.allProcesses().filter(ProcessHandle::isAlive)
                .filter(h -> h.info().commandLine().map(c -> c.contains(dir)).orElse(false))
                .map(h -> h.pid() + " " + h.info().commandLine().orElse("")).toList();
        assertThat(left).as("processes of the lab").isEmpty();
        assertThat(lab.resolve("run").resolve("lab.properties")).doesNotExist();
    }

    private static ProcessBuilder command(String... args) {
        return EnclaveJar.command(args);
    }

    private Run enclave(String... args) throws IOException, InterruptedException {
        Path out = Files.createTempFile(base, "out", ".txt");
        Process p = command(args).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        if (!p.waitFor(240, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("enclave " + String.join(" ", args) + " did not finish: " + Files.readString(out));
        }
        return new Run(p.exitValue(), Files.readString(out));
    }

    private record Run(int exit, String output) {
    }
}
