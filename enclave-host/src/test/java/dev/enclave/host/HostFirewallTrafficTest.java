package dev.enclave.host;

import static dev.enclave.host.testing.NetLab.APP;
import static dev.enclave.host.testing.NetLab.CONTAINER;
import static dev.enclave.host.testing.NetLab.HOST_SIDE;
import static dev.enclave.host.testing.NetLab.HOST_SIDE_6;
import static dev.enclave.host.testing.NetLab.METADATA;
import static dev.enclave.host.testing.NetLab.OTHER_HOST;
import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.config.ConfigLoader;
import dev.enclave.host.testing.NetLab;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The rendered table, applied in the app namespace of a {@link NetLab}, proven with real packets.
 * Every probe is first shown to get through without the table (so a "blocked" result means the
 * table blocked it, not a broken probe), then the table is applied and each way out is tried again.
 * The egress proxy is 10.77.91.1:3128, the LLM relay 10.77.91.1:4000, the app listens on 3000.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostFirewallTrafficTest {
    private static final String CONFIG = """
            egress: { listen: "10.77.91.1:3128" }
            llm:
              - { listen: "10.77.91.1:4000", upstream: "https://api.openai.com" }
            gateway: { upstream: "http://10.77.91.2:3000" }
            host: { gateway_source: 10.77.91.1 }
            """;
    private static NetLab lab;
    private static HostFirewall firewall;
    private static Ruleset ruleset;

    @BeforeAll
    static void labWithListeners() throws Exception {
        lab = NetLab.create();
        for (int port : new int[] {3128, 4000, 3129, 80}) {
            lab.tcpListener(lab.host, port); // on 10.77.91.1, 10.77.91.3 and 169.254.169.254 alike
        }
        lab.tcp6Listener(lab.host, 3128);
        lab.udpListener(lab.host, 53);
        lab.udpListener(lab.host, 123);
        lab.tcpListener(lab.app, 3000);
        lab.tcpListener(lab.app, 3001);
        firewall = HostFirewall.of(lab.app);
        ruleset = HostRuleset.of(FirewallPlan.from(ConfigLoader.parse(CONFIG, "lab.yaml")));
    }

    @AfterAll
    static void removeLab() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void withoutTheTableEveryProbeGetsThrough() throws Exception {
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 3128)).as("proxy").isTrue();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 3129)).as("another port").isTrue();
        assertThat(lab.tcpReaches(lab.app, OTHER_HOST, 3128)).as("another host").isTrue();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE_6, 3128)).as("the proxy's port over IPv6").isTrue();
        assertThat(lab.tcpReaches(lab.app, METADATA, 80)).as("metadata").isTrue();
        assertThat(lab.udpAnswered(lab.app, HOST_SIDE, 53)).as("DNS").isTrue();
        assertThat(lab.pingAnswered(lab.app, HOST_SIDE)).as("ping").isTrue();
        assertThat(lab.tcpReachesFrom(lab.host, OTHER_HOST, APP, 3000)).as("app from another address").isTrue();
        assertThat(lab.tcpReaches(lab.host, APP, 3001)).as("another app port").isTrue();
        assertThat(lab.tcpReaches(lab.container, HOST_SIDE, 3129)).as("container, another port").isTrue();
        assertThat(lab.tcpReaches(lab.container, METADATA, 80)).as("container, metadata").isTrue();
        assertThat(lab.pingAnswered(lab.container, HOST_SIDE)).as("container, ping").isTrue();
    }

    @Test
    @Order(2)
    void theAppSideReachesTheProxyAndTheRelayAndNothingElse() throws Exception {
        firewall.apply(ruleset);

        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 3128)).as("egress proxy 10.77.91.1:3128").isTrue();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 4000)).as("LLM relay 10.77.91.1:4000").isTrue();

        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 3129)).as("another port on the proxy's host").isFalse();
        assertThat(lab.tcpReaches(lab.app, OTHER_HOST, 3128)).as("the proxy's port on another host").isFalse();
        assertThat(lab.udpAnswered(lab.app, HOST_SIDE, 53)).as("DNS (UDP 53) to the host side").isFalse();
        assertThat(lab.udpAnswered(lab.app, HOST_SIDE, 123)).as("NTP, not configured").isFalse();
        assertThat(lab.pingAnswered(lab.app, HOST_SIDE)).as("ICMP echo").isFalse();
        assertThat(lab.tcpReaches(lab.app, METADATA, 80)).as("169.254.169.254 (metadata)").isFalse();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE_6, 3128)).as("the proxy's port over IPv6: all new IPv6 is dropped").isFalse();
    }

    @Test
    @Order(3)
    void onlyTheGatewayReachesTheAppAndOnlyOnItsPort() throws Exception {
        assertThat(lab.tcpReaches(lab.host, APP, 3000)).as("gateway 10.77.91.1 to app 3000").isTrue();
        assertThat(lab.tcpReachesFrom(lab.host, OTHER_HOST, APP, 3000)).as("another address to app 3000").isFalse();
        assertThat(lab.tcpReaches(lab.host, APP, 3001)).as("gateway to another port of the app side").isFalse();
        assertThat(lab.pingAnswered(lab.host, APP)).as("ping to the app side").isFalse();
    }

    @Test
    @Order(4)
    void aContainerRoutedThroughTheAppSideIsConfinedTheSameWay() throws Exception {
        assertThat(lab.tcpReaches(lab.container, HOST_SIDE, 3128)).as("container to the egress proxy").isTrue();
        assertThat(lab.tcpReaches(lab.container, HOST_SIDE, 4000)).as("container to the LLM relay").isTrue();

        assertThat(lab.tcpReaches(lab.container, HOST_SIDE, 3129)).as("container to another port").isFalse();
        assertThat(lab.tcpReaches(lab.container, OTHER_HOST, 3128)).as("container to another host").isFalse();
        assertThat(lab.udpAnswered(lab.container, HOST_SIDE, 53)).as("container DNS").isFalse();
        assertThat(lab.pingAnswered(lab.container, HOST_SIDE)).as("container ICMP echo").isFalse();
        assertThat(lab.tcpReaches(lab.container, METADATA, 80)).as("container to the metadata service").isFalse();
    }

    @Test
    @Order(6)
    void theGatewayReachesAnAppPublishedFromAContainerAndNoOneElseDoes() throws Exception {
        // As 'docker run -p 3000:8080' would: the app side rewrites 10.77.91.2:3000 to the container's 8080.
        lab.tcpListener(lab.container, 8080);
        lab.nft(lab.app, """
                table ip docker_like_nat {
                	chain prerouting {
                		type nat hook prerouting priority dstnat; policy accept;
                		ip daddr 10.77.91.2 tcp dport 3000 dnat to 10.77.92.2:8080
                	}
                }
                """);
        firewall.remove();
        assertThat(lab.tcpAnswer(lab.host, OTHER_HOST, APP, 3000)).as("without the table, any address").contains("reached 8080");

        firewall.apply(ruleset);
        assertThat(lab.tcpAnswer(lab.host, null, APP, 3000)).as("the gateway, through the port mapping").contains("reached 8080");
        assertThat(lab.tcpAnswer(lab.host, OTHER_HOST, APP, 3000)).as("another address").doesNotContain("reached");
        assertThat(lab.tcpAnswer(lab.host, null, CONTAINER, 8080)).as("the gateway straight to the container").doesNotContain("reached");
        assertThat(firewall.check(ruleset)).as("the foreign nat table is not Enclave's concern").isEmpty();
    }

    @Test
    @Order(5)
    void countedPacketsAreNotDriftAndTheMetadataCounterShowsTheAttempts() throws Exception {
        String output = lab.in(lab.app, "nft", "list", "chain", "inet", "enclave", "output");
        assertThat(output).containsPattern("ip daddr 169\\.254\\.169\\.254 counter packets [1-9][0-9]* bytes [1-9][0-9]* drop");
        assertThat(firewall.check(ruleset)).isEmpty();
    }
}
