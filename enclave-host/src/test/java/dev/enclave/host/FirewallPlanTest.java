package dev.enclave.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the firewall takes from enclave.yaml, and the one-line errors when it cannot take it. */
class FirewallPlanTest {

    @Test
    void theLocalTargetsGatewaySourceIsTheHostSideOfTheVethUnlessConfigured() throws Exception {
        FirewallPlan plan = plan("""
                egress: { listen: "10.77.1.1:3128" }
                gateway: { upstream: "http://10.77.1.2:3000" }
                """);
        assertThat(plan.gatewaySource().getHostAddress()).isEqualTo("10.77.1.1");
        assertThat(plan.appPorts()).containsExactly(3000);
        assertThat(plan.destinations()).containsExactly(new Destination("10.77.1.1", "tcp", 3128, "egress proxy", "egress.listen"));

        assertThat(plan("""
                egress: { listen: "10.77.1.1:3128" }
                gateway: { upstream: "http://10.77.1.2" }
                host: { gateway_source: 10.77.1.9 }
                """)).satisfies(p -> {
                    assertThat(p.gatewaySource().getHostAddress()).isEqualTo("10.77.1.9");
                    assertThat(p.appPorts()).as("http without a port").containsExactly(80);
                });
    }

    @Test
    void aRelaySharingTheProxysAddressAndPortIsOneRule() throws Exception {
        FirewallPlan plan = plan("""
                egress: { listen: "10.77.1.1:3128" }
                llm:
                  - { listen: "10.77.1.1:4000", upstream: "https://api.openai.com", paths: ["/v1/chat/completions"] }
                  - { preset: anthropic, listen: "10.77.1.1:4000", upstream: "https://api.anthropic.com", paths: ["/v1/messages"] }
                gateway: { upstream: "http://10.77.1.2:3000" }
                """);
        assertThat(plan.destinations()).extracting(Destination::from).containsExactly("egress.listen", "llm[0].listen");
    }

    @Test
    void addressesTheAppCannotReachAreRefusedWithTheFix() {
        assertThat(problems("""
                egress: { listen: "0.0.0.0:3128" }
                llm:
                  - { listen: "127.0.0.1:4000", upstream: "https://api.openai.com" }
                  - { listen: "[fd00::1]:4001", upstream: "https://api.openai.com" }
                gateway: { upstream: "http://10.77.1.2:3000" }
                """)).containsExactly(
                "t.yaml: egress.listen: 0.0.0.0 is every address; the host firewall needs the one address the app reaches it at; listen on the host side's IPv4 address, e.g. 10.77.1.1:3128",
                "t.yaml: llm[0].listen: 127.0.0.1 is loopback, which the app side cannot reach (it has its own); listen on the host side's IPv4 address, e.g. 10.77.1.1:4000",
                "t.yaml: llm[1].listen: fd00:0:0:0:0:0:0:1 is IPv6, which the host firewall drops; listen on the host side's IPv4 address, e.g. 10.77.1.1:4001");
    }

    @Test
    void whatTheFirewallCannotGuessIsRequired() {
        assertThat(problems("target: aws\n")).containsExactly(
                "t.yaml: egress.listen: missing; the host firewall lets the app reach the egress proxy there, e.g. listen: 10.77.1.1:3128",
                "t.yaml: gateway.upstream: missing; the host firewall admits the gateway to the app on this URL's port, e.g. upstream: http://10.77.1.2:3000",
                "t.yaml: host.gateway_source: missing; with target aws give the address the gateway's connections to the app come from, e.g. gateway_source: 10.0.0.10");
    }

    private static FirewallPlan plan(String yaml) throws ConfigException {
        return FirewallPlan.from(ConfigLoader.parse(yaml, "t.yaml"));
    }

    private static List<String> problems(String yaml) {
        ConfigException e = catchThrowableOfType(() -> plan(yaml), ConfigException.class);
        assertThat(e).as("refused").isNotNull();
        return e.problems();
    }
}
