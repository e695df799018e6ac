package dev.enclave.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.config.ConfigLoader;
import dev.enclave.host.testing.HostCommand;
import dev.enclave.host.testing.NetLab;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * apply, check and remove against a real kernel, in the app namespace of a fresh {@link NetLab}:
 * each kind of tampering is reported as its own line, apply is idempotent and all-or-nothing, and
 * remove takes only Enclave's table.
 */
class HostFirewallDriftTest {
    private static final String CONFIG = """
            egress: { listen: "10.77.91.1:3128" }
            llm:
              - { listen: "10.77.91.1:4000", upstream: "https://api.openai.com" }
            gateway: { upstream: "http://10.77.91.2:3000" }
            host: { gateway_source: 10.77.91.1 }
            """;
    private static final String OTHER_TABLE = """
            table inet other {
            	chain input {
            		type filter hook input priority filter; policy accept;
            		tcp dport 22 accept
            	}
            }
            """;
    private NetLab lab;
    private HostFirewall firewall;
    private Ruleset ruleset;

    @BeforeEach
    void appliedInAFreshNamespace() throws Exception {
        lab = NetLab.create();
        firewall = HostFirewall.of(lab.app);
        ruleset = HostRuleset.of(FirewallPlan.from(ConfigLoader.parse(CONFIG, "lab.yaml")));
        firewall.apply(ruleset);
        assertThat(firewall.check(ruleset)).as("right after apply").isEmpty();
    }

    @AfterEach
    void removeLab() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    void applyingTwiceLeavesTheSameTable() throws Exception {
        String first = nft("list", "table", "inet", "enclave");
        firewall.apply(ruleset);
        assertThat(nft("list", "table", "inet", "enclave")).isEqualTo(first);
        assertThat(nft("list", "tables")).containsOnlyOnce("table inet enclave");
        assertThat(firewall.check(ruleset)).isEmpty();
    }

    @Test
    void aRuleAddedIsDrift() throws Exception {
        nft("insert", "rule", "inet", "enclave", "output", "tcp", "dport", "22", "accept");
        assertThat(firewall.check(ruleset)).containsExactly("chain output: rule added at position 1: tcp dport 22 accept");
    }

    @Test
    void aRuleRemovedIsDrift() throws Exception {
        nft("delete", "rule", "inet", "enclave", "output", "handle", handleOf("output", "\"egress proxy\""));
        assertThat(firewall.check(ruleset)).containsExactly(
                "chain output: rule removed (was at position 5): ip daddr 10.77.91.1 tcp dport 3128 accept comment \"egress proxy\"");
    }

    @Test
    void aRuleChangedInPlaceIsOneRemovedAndOneAdded() throws Exception {
        nft("replace", "rule", "inet", "enclave", "input", "handle", handleOf("input", "\"gateway to app\""),
                "tcp", "dport", "3000", "ct", "state", "new", "accept", "comment", "\"gateway to app\"");
        assertThat(firewall.check(ruleset)).containsExactlyInAnyOrder(
                "chain input: rule added at position 4: tcp dport 3000 ct state new accept comment \"gateway to app\"",
                "chain input: rule removed (was at position 4): ip saddr 10.77.91.1 tcp dport 3000 ct state new accept comment \"gateway to app\"");
    }

    @Test
    void aPolicyChangedIsDrift() throws Exception {
        nft("chain", "inet", "enclave", "forward", "{ policy accept; }");
        assertThat(firewall.check(ruleset)).containsExactly("chain forward: policy is accept, expected drop");
    }

    @Test
    void aChainRemovedOrAddedIsDrift() throws Exception {
        nft("flush", "chain", "inet", "enclave", "input");
        nft("delete", "chain", "inet", "enclave", "input");
        nft("add", "chain", "inet", "enclave", "prerouting", "{ type filter hook prerouting priority raw; policy accept; }");
        assertThat(firewall.check(ruleset)).containsExactly(
                "chain input is missing (with its 4 rules)",
                "chain prerouting was added (0 rules) on hook prerouting");
    }

    @Test
    void theTableDeletedIsDriftAndApplyRestoresIt() throws Exception {
        nft("delete", "table", "inet", "enclave");
        assertThat(firewall.check(ruleset)).containsExactly("table inet enclave is missing; run 'enclave host apply'");
        firewall.apply(ruleset);
        assertThat(firewall.check(ruleset)).isEmpty();
    }

    @Test
    void removeDeletesOnlyEnclavesTable() throws Exception {
        lab.nft(lab.app, OTHER_TABLE);
        String other = nft("list", "table", "inet", "other");
        firewall.remove();
        assertThat(nft("list", "tables")).doesNotContain("table inet enclave").contains("table inet other");
        assertThat(nft("list", "table", "inet", "other")).isEqualTo(other);
        firewall.remove(); // already gone: still fine
        assertThat(firewall.check(ruleset)).containsExactly("table inet enclave is missing; run 'enclave host apply'");
    }

    @Test
    void applyDoesNotTouchAForeignTable() throws Exception {
        lab.nft(lab.app, OTHER_TABLE);
        String other = nft("list", "table", "inet", "other");
        firewall.apply(ruleset);
        assertThat(nft("list", "table", "inet", "other")).isEqualTo(other);
    }

    @Test
    void aRulesetNftRejectsChangesNothing() throws Exception {
        String before = nft("list", "ruleset");
        Ruleset.Chain good = ruleset.chains().get(0);
        List<Ruleset.Rule> rules = new java.util.ArrayList<>(good.rules());
        rules.add(new Ruleset.Rule("ip daddr 10.77.91.300 accept", "not an address", List.of()));
        Ruleset broken = new Ruleset(ruleset.family(), ruleset.table(), List.of(), List.of(
                new Ruleset.Chain(good.name(), good.hook(), good.priority(), "accept", good.why(), rules)));

        assertThatThrownBy(() -> firewall.apply(broken)).isInstanceOf(HostFirewallException.class)
                .hasMessageStartingWith("nft refused the ruleset: ")
                .hasMessageEndingWith("; nothing was changed")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));

        assertThat(nft("list", "ruleset")).isEqualTo(before);
        assertThat(firewall.check(ruleset)).isEmpty();
    }

    @Test
    void aMissingNamespaceIsNamedWithTheFix() {
        assertThatThrownBy(() -> HostFirewall.of(lab.app + "-gone").apply(ruleset))
                .isInstanceOf(HostFirewallException.class)
                .hasMessage("no network namespace '" + lab.app + "-gone'; create it (ip netns add " + lab.app + "-gone) or drop --netns");
    }

    /**
     * Root in a user namespace of its own (what a rootless container or `unshare -r` gives an app
     * that is not root) has every capability there but none over the app's network namespace, which
     * belongs to the host's user namespace: it can neither read nor change the table, nor the
     * namespace's routes. Real root inside the namespace could; that is why the app runs as nobody.
     */
    @Test
    void rootInAUserNamespaceInsideTheAppNamespaceCannotChangeTheTableOrTheRoutes() throws Exception {
        HostCommand.Result userns = HostCommand.attempt(null, "ip", "netns", "exec", lab.app, "unshare", "--user", "--map-root-user", "true");
        org.junit.jupiter.api.Assumptions.assumeTrue(userns.exit() == 0,
                "this kernel does not let root create a user namespace (user.max_user_namespaces?): " + userns.output());
        for (String[] attempt : List.of(
                new String[] {"nft", "delete", "table", "inet", "enclave"},
                new String[] {"nft", "flush", "chain", "inet", "enclave", "output"},
                new String[] {"nft", "insert", "rule", "inet", "enclave", "output", "accept"},
                new String[] {"nft", "list", "ruleset"},
                new String[] {"ip", "route", "add", "default", "via", "10.77.91.1"})) {
            List<String> cmd = new java.util.ArrayList<>(List.of("ip", "netns", "exec", lab.app, "unshare", "--user", "--map-root-user"));
            cmd.addAll(List.of(attempt));
            HostCommand.Result r = HostCommand.attempt(null, cmd.toArray(String[]::new));
            assertThat(r.exit()).as(String.join(" ", attempt) + ": " + r.output()).isNotZero();
            assertThat(r.output()).as(String.join(" ", attempt)).contains("Operation not permitted");
        }
        assertThat(firewall.check(ruleset)).as("the table is as applied").isEmpty();
        assertThat(lab.in(lab.app, "ip", "route", "show")).doesNotContain("default");
    }

    private String nft(String... args) throws Exception {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "nft";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return lab.in(lab.app, cmd);
    }

    private String handleOf(String chain, String containing) throws Exception {
        for (String line : nft("-a", "list", "chain", "inet", "enclave", chain).split("\n")) {
            if (line.contains(containing)) {
                return line.substring(line.lastIndexOf("# handle ") + 9).strip();
            }
        }
        throw new AssertionError("no rule with " + containing + " in chain " + chain);
    }
}
