package dev.enclave.cli;

import static dev.enclave.cli.HostCommand.run;
import static dev.enclave.cli.HostCommand.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code enclave host render|apply|check|remove} from the shaded jar: exit 0 when all is well,
 * 1 when check finds drift, 2 with one line naming the fix for a bad config or a firewall that
 * cannot be changed. The apply/check tests work in a throwaway network namespace (root only).
 */
class HostFirewallCommandIT {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "''host {0} --help'' prints usage and exits 0")
    @ValueSource(strings = {"", "render", "apply", "check", "remove"})
    void everyHostCommandHasHelp(String sub) throws Exception {
        List<String> args = new ArrayList<>(List.of("host"));
        if (!sub.isEmpty()) {
            args.add(sub);
        }
        args.add("--help");
        EnclaveJar.Result r = EnclaveJar.run(args.toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("Usage: enclave host");
    }

    @Test
    void renderWithoutAConfigPrintsTheLocalDefaults() throws Exception {
        EnclaveJar.Result r = EnclaveJar.run("host", "render");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("# Enclave host firewall for the app side (from built-in local defaults).")
                .contains("table inet enclave {", "ip daddr 10.77.1.1 tcp dport 3128 accept comment \"egress proxy\"",
                        "ip saddr 10.77.1.1 tcp dport 3000 ct state new accept comment \"gateway to app\"");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "a proxy on every address|egress: { listen: \"0.0.0.0:3128\" }\ngateway: { upstream: \"http://10.77.1.2:3000\" }\n|egress.listen: 0.0.0.0 is every address",
        "no gateway upstream|egress: { listen: \"10.77.1.1:3128\" }\n|gateway.upstream: missing",
        "an allow holding the metadata service|host:\n  allow: [ { to: 169.254.0.0/16 } ]\n|holds 169.254.169.254",
        "an unknown key|host: { gateway: 10.77.1.1 }\n|host.gateway: unknown key"})
    void aBadConfigExits2WithOneLine(String spec) throws Exception {
        String[] parts = spec.split("\\|");
        Path config = Files.writeString(tmp.resolve("enclave.yaml"), parts[1], StandardCharsets.UTF_8);
        for (String sub : List.of("render", "apply", "check")) {
            EnclaveJar.Result r = EnclaveJar.run("host", sub, "-c", config.toString());
            assertThat(r.exit()).as(sub + ": " + r.err()).isEqualTo(2);
            assertThat(r.err().strip()).as(sub).startsWith("enclave: ").contains(parts[2]).doesNotContain("\n");
            assertThat(r.out()).as(sub).isEmpty();
        }
    }

    @Test
    void aNetnsNameThatIsNoNameExits2() throws Exception {
        EnclaveJar.Result r = EnclaveJar.run("host", "apply", "--netns", "../x");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().strip()).isEqualTo("enclave: --netns ../x is not a network namespace name; see 'ip netns list'");
    }

    @Test
    void applyCheckDriftAndRemoveInANamespace() throws Exception {
        String ns = namespace();
        try {
            EnclaveJar.Result missing = EnclaveJar.run("host", "check", "--netns", ns);
            assertThat(missing.exit()).as(missing.err()).isEqualTo(1);
            assertThat(missing.out()).contains("drift: table inet enclave is missing; run 'enclave host apply'");

            EnclaveJar.Result applied = EnclaveJar.run("host", "apply", "--netns", ns);
            assertThat(applied.exit()).as(applied.err()).isZero();
            assertThat(applied.out().strip()).isEqualTo("applied table inet enclave in network namespace " + ns);

            EnclaveJar.Result clean = EnclaveJar.run("host", "check", "--netns", ns);
            assertThat(clean.exit()).as(clean.err()).isZero();
            assertThat(clean.out().strip()).isEqualTo("ok: table inet enclave is as rendered");

            run(null, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "enclave", "output", "udp", "dport", "53", "accept");
            run(null, "ip", "netns", "exec", ns, "nft", "chain", "inet", "enclave", "input", "{ policy accept; }");
            EnclaveJar.Result drift = EnclaveJar.run("host", "check", "--netns", ns);
            assertThat(drift.exit()).as(drift.err()).isEqualTo(1);
            assertThat(drift.out().lines()).containsExactly(
                    "drift: chain output: rule added at position 7: udp dport 53 accept",
                    "drift: chain input: policy is accept, expected drop",
                    "2 differences; 'enclave host apply' restores the table");

            EnclaveJar.Result removed = EnclaveJar.run("host", "remove", "--netns", ns);
            assertThat(removed.exit()).as(removed.err()).isZero();
            assertThat(run(null, "ip", "netns", "exec", ns, "nft", "list", "tables")).doesNotContain("enclave");
        } finally {
            run(null, "ip", "netns", "delete", ns);
        }
    }

    @Test
    void theHostSideTableOfAnAppNamespaceIsRenderedAppliedCheckedAndRemovedByItsOwnName() throws Exception {
        EnclaveJar.Result render = EnclaveJar.run("host", "render", "--host-side-of", "enclave-app");
        assertThat(render.exit()).as(render.err()).isZero();
        assertThat(render.out()).contains("table inet enclave_host_enclave-app {",
                "iifname \"ve-enclave-app\" ip daddr 10.77.1.1 tcp dport 3128 accept comment \"egress proxy\"",
                "iifname \"ve-enclave-app\" counter drop", "oifname \"ve-enclave-app\" counter drop");
        EnclaveJar.Result bad = EnclaveJar.run("host", "render", "--host-side-of", "../x");
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.err()).startsWith("enclave: --host-side-of ../x is not an app namespace name");

        String ns = namespace(); // stands for the host's namespace: the table is applied where --netns says
        try {
            EnclaveJar.Result applied = EnclaveJar.run("host", "apply", "--netns", ns, "--host-side-of", "enclave-app");
            assertThat(applied.exit()).as(applied.err()).isZero();
            assertThat(applied.out().strip()).isEqualTo("applied table inet enclave_host_enclave-app in network namespace " + ns);
            EnclaveJar.Result inNs = EnclaveJar.run("host", "apply", "--netns", ns);
            assertThat(inNs.exit()).as(inNs.err()).isZero();

            EnclaveJar.Result clean = EnclaveJar.run("host", "check", "--netns", ns, "--host-side-of", "enclave-app");
            assertThat(clean.out().strip()).isEqualTo("ok: table inet enclave_host_enclave-app is as rendered");
            run(null, "ip", "netns", "exec", ns, "nft", "delete", "chain", "inet", "enclave_host_enclave-app", "forward");
            EnclaveJar.Result drift = EnclaveJar.run("host", "check", "--netns", ns, "--host-side-of", "enclave-app");
            assertThat(drift.exit()).isEqualTo(1);
            assertThat(drift.out().lines()).containsExactly("drift: chain forward is missing (with its 2 rules)",
                    "1 difference; 'enclave host apply --host-side-of enclave-app' restores the table");

            EnclaveJar.Result removed = EnclaveJar.run("host", "remove", "--netns", ns, "--host-side-of", "enclave-app");
            assertThat(removed.exit()).as(removed.err()).isZero();
            assertThat(removed.out().strip()).isEqualTo("removed table inet enclave_host_enclave-app");
            assertThat(run(null, "ip", "netns", "exec", ns, "nft", "list", "tables"))
                    .doesNotContain("enclave_host").contains("table inet enclave");
        } finally {
            run(null, "ip", "netns", "delete", ns);
        }
    }

    @Test
    void withoutCapNetAdminApplyExits2NamingTheFixAndChangesNothing() throws Exception {
        String ns = namespace();
        try {
            // Root, but with CAP_NET_ADMIN gone from the bounding set: the java process and its nft lack it.
            List<String> cmd = new ArrayList<>(List.of(tool("ip"), "netns", "exec", ns, tool("setpriv"), "--bounding-set=-net_admin"));
            cmd.addAll(EnclaveJar.command("host", "apply").command());
            Process p = new ProcessBuilder(cmd).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor()).as(err).isEqualTo(2);
            assertThat(out).isEmpty();
            assertThat(err.strip()).isEqualTo("enclave: not permitted to change or read the firewall (Operation not permitted); "
                    + "run as root (sudo enclave host ...) or with CAP_NET_ADMIN");
            assertThat(run(null, "ip", "netns", "exec", ns, "nft", "list", "ruleset")).isBlank();
        } finally {
            run(null, "ip", "netns", "delete", ns);
        }
    }

    private static String namespace() throws Exception {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "needs root: applies nftables rules in a new network namespace (CI runs as root)");
        for (String t : List.of("nft", "ip", "unshare", "setpriv")) {
            assumeTrue(tool(t) != null, "needs " + t + " (Debian packages nftables, iproute2, util-linux)");
        }
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        String ns = "enclave-test-" + HexFormat.of().formatHex(b);
        run(null, "ip", "netns", "add", ns);
        return ns;
    }
}
