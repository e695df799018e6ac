package dev.enclave.host;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.config.ConfigLoader;
import org.junit.jupiter.api.Test;

/** The host-side table as rendered: it names only the app's veth, so nothing else on the host is touched. */
class HostSideRulesetTest {
    private static final String CONFIG = """
            egress: { listen: "10.77.1.1:3128" }
            llm:
              - { listen: "10.77.1.1:4000", upstream: "https://api.openai.com" }
            gateway: { upstream: "http://10.77.1.2:3000" }
            host:
              gateway_source: 10.77.1.1
              allow: [ { to: 192.0.2.10, port: 123, protocol: udp } ]
            """;

    @Test
    void everyRuleMatchesTheVethAndEveryPolicyIsAccept() throws Exception {
        Ruleset r = HostSideRuleset.of(FirewallPlan.from(ConfigLoader.parse(CONFIG, "t.yaml")), "enclave-app", "ve-enclave-app");
        assertThat(r.table()).isEqualTo("enclave_host_enclave-app");
        assertThat(r.chains()).extracting(Ruleset.Chain::policy).containsOnly("accept");
        assertThat(r.chains()).flatExtracting(Ruleset.Chain::rules).extracting(Ruleset.Rule::statement)
                .allMatch(s -> s.startsWith("iifname \"ve-enclave-app\" ") || s.startsWith("oifname \"ve-enclave-app\" "));
        String rendered = r.render();
        assertThat(rendered).contains("iifname \"ve-enclave-app\" ip daddr 10.77.1.1 tcp dport 3128 accept comment \"egress proxy\"")
                .contains("iifname \"ve-enclave-app\" ip daddr 10.77.1.1 tcp dport 4000 accept")
                .contains("iifname \"ve-enclave-app\" ip daddr 192.0.2.10 udp dport 123 accept comment \"host.allow[0]\"");
        // The operator's host.allow entry is routed (forward), the proxy and the relay are not (they are this host's).
        Ruleset.Chain forward = r.chains().get(1);
        assertThat(forward.rules()).extracting(Ruleset.Rule::statement).noneMatch(s -> s.contains("3128") || s.contains("4000"))
                .anyMatch(s -> s.contains("192.0.2.10"));
    }
}
