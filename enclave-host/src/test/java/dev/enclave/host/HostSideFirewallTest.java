package dev.enclave.host;

import static dev.enclave.host.testing.NetLab.APP;
import static dev.enclave.host.testing.NetLab.HOST_SIDE;
import static dev.enclave.host.testing.NetLab.HOST_SIDE_6;
import static dev.enclave.host.testing.NetLab.OTHER_HOST;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.enclave.config.ConfigLoader;
import dev.enclave.host.testing.HostCommand;
import dev.enclave.host.testing.NetLab;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The host-side table ({@link HostSideRuleset}) in the host namespace of a {@link NetLab}, against
 * root inside the app namespace: a process there with CAP_NET_ADMIN but not CAP_SYS_ADMIN (it cannot
 * enter another namespace) flushes the app side's own table and adds a default route through the
 * host, and still reaches only the proxy and the relay. A fourth namespace, "world" (10.77.96.2,
 * behind the host at 10.77.96.1, with the host routing), stands for everything beyond the host.
 * Every probe is first shown to get through without the tables.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostSideFirewallTest {
    private static final String CONFIG = """
            egress: { listen: "10.77.91.1:3128" }
            llm:
              - { listen: "10.77.91.1:4000", upstream: "https://api.openai.com" }
            gateway: { upstream: "http://10.77.91.2:3000" }
            host: { gateway_source: 10.77.91.1 }
            """;
    private static final String WORLD = "10.77.96.2";
    private static final String WORLD_GATEWAY = "10.77.96.1";
    private static final int GATEWAY_PORT = 8443;
    private static final int SSH_PORT = 22;
    private static final String FOREIGN_TABLE = """
            table inet other {
            	chain input {
            		type filter hook input priority filter; policy accept;
            		tcp dport 22 accept
            	}
            }
            """;

    private static NetLab lab;
    private static String world;
    private static HostFirewall hostSide;
    private static Ruleset hostRuleset;
    private static HostFirewall appSide;
    private static Ruleset appRuleset;

    @BeforeAll
    static void labWithAWorldBehindTheHost() throws Exception {
        NetLab.assumeRootAndTools();
        for (String t : List.of("setpriv", "nsenter")) {
            assumeTrue(HostCommand.tool(t) != null, "needs " + t + " (Debian package util-linux)");
        }
        lab = NetLab.create();
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        world = "enclave-test-w-" + HexFormat.of().formatHex(b);
        HostCommand.run(null, "ip", "netns", "add", world);
        HostCommand.run(null, "ip", "link", "add", "vw", "netns", lab.host, "type", "veth", "peer", "name", "vo", "netns", world);
        lab.in(lab.host, "ip", "addr", "add", WORLD_GATEWAY + "/24", "dev", "vw");
        lab.in(lab.host, "ip", "link", "set", "vw", "up");
        lab.in(lab.host, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
        lab.in(world, "ip", "link", "set", "lo", "up");
        lab.in(world, "ip", "addr", "add", WORLD + "/24", "dev", "vo");
        lab.in(world, "ip", "link", "set", "vo", "up");
        lab.in(world, "ip", "route", "add", "10.77.91.0/24", "via", WORLD_GATEWAY);
        for (int port : new int[] {3128, 4000, GATEWAY_PORT, SSH_PORT}) {
            lab.tcpListener(lab.host, port);
        }
        lab.tcp6Listener(lab.host, 3128);
        lab.tcpListener(world, 80);
        lab.tcpListener(lab.app, 3000);
        lab.nft(lab.host, FOREIGN_TABLE);

        FirewallPlan plan = FirewallPlan.from(ConfigLoader.parse(CONFIG, "lab.yaml"));
        hostSide = HostFirewall.of(lab.host);
        hostRuleset = HostSideRuleset.of(plan, lab.app, "vh");
        appSide = HostFirewall.of(lab.app);
        appRuleset = HostRuleset.of(plan);
    }

    @AfterAll
    static void removeLab() {
        if (world != null) {
            HostCommand.quietly("ip", "netns", "delete", world);
        }
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void withoutTheTablesAndWithADefaultRouteEveryProbeGetsThrough() throws Exception {
        lab.in(lab.app, "ip", "route", "add", "default", "via", HOST_SIDE);
        try {
            assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 3128)).as("proxy").isTrue();
            assertThat(lab.tcpReaches(lab.app, HOST_SIDE, GATEWAY_PORT)).as("the gateway's port").isTrue();
            assertThat(lab.tcpReaches(lab.app, HOST_SIDE, SSH_PORT)).as("ssh").isTrue();
            assertThat(lab.tcpReaches(lab.app, OTHER_HOST, 3128)).as("another address of the host").isTrue();
            assertThat(lab.tcpReaches(lab.app, HOST_SIDE_6, 3128)).as("the proxy's port over IPv6").isTrue();
            assertThat(lab.tcpReaches(lab.app, WORLD, 80)).as("routed through the host").isTrue();
            assertThat(lab.tcpReaches(world, APP, 3000)).as("routed to the app side").isTrue();
        } finally {
            lab.in(lab.app, "ip", "route", "del", "default");
        }
    }

    @Test
    @Order(2)
    void rootInTheAppNamespaceFlushesItsOwnTableButCannotReachTheHostSideOne() throws Exception {
        appSide.apply(appRuleset);
        hostSide.apply(hostRuleset);
        hostSide.apply(hostRuleset); // idempotent
        assertThat(appSide.check(appRuleset)).isEmpty();
        assertThat(hostSide.check(hostRuleset)).isEmpty();
        assertThat(lab.in(lab.host, "nft", "list", "tables")).containsOnlyOnce("table inet " + hostRuleset.table());

        // Root in the app namespace, with CAP_NET_ADMIN there but without CAP_SYS_ADMIN (no setns into another namespace).
        HostCommand.Result root = HostCommand.attempt(null, "ip", "netns", "exec", lab.app,
                HostCommand.tool("setpriv"), "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "--",
                "/bin/sh", "-c", "PATH=/usr/sbin:/sbin:/usr/bin:/bin; "
                        + "nft flush ruleset && echo flushed; "
                        + "ip route add default via " + HOST_SIDE + " && echo routed; "
                        + "nft list ruleset | grep -c enclave_host; "
                        + "nft delete table inet " + hostRuleset.table() + " || echo cannot-delete; "
                        + "nsenter --net=/run/netns/" + lab.host + " nft flush ruleset || echo cannot-enter");
        assertThat(root.output()).contains("flushed", "routed", "cannot-delete", "cannot-enter");
        assertThat(root.output()).containsPattern("(?m)^0$"); // the host-side table is not visible from inside
        assertThat(root.output()).contains("Operation not permitted"); // nsenter's own reason
        assertThat(lab.in(lab.app, "nft", "list", "ruleset")).as("the app side's table is gone").doesNotContain("table");
        assertThat(lab.in(lab.app, "ip", "route", "show")).contains("default via " + HOST_SIDE);

        assertThat(hostSide.check(hostRuleset)).as("the host-side table is untouched").isEmpty();
    }

    @Test
    @Order(3)
    void afterTheFlushTheHostSideTableStillAdmitsOnlyTheProxyAndTheRelay() throws Exception {
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 3128)).as("egress proxy 10.77.91.1:3128").isTrue();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, 4000)).as("LLM relay 10.77.91.1:4000").isTrue();

        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, GATEWAY_PORT)).as("the gateway's port on the host").isFalse();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE, SSH_PORT)).as("ssh on the host").isFalse();
        assertThat(lab.tcpReaches(lab.app, OTHER_HOST, 3128)).as("the proxy's port on another address of the host").isFalse();
        assertThat(lab.tcpReaches(lab.app, HOST_SIDE_6, 3128)).as("the proxy's port over IPv6").isFalse();
        assertThat(lab.pingAnswered(lab.app, HOST_SIDE)).as("ICMP echo to the host").isFalse();
        assertThat(lab.tcpReaches(lab.app, WORLD, 80)).as("routed through the host by the app's own default route").isFalse();
        assertThat(lab.tcpReaches(world, APP, 3000)).as("routed from elsewhere to the app side").isFalse();
        assertThat(lab.tcpReaches(world, WORLD_GATEWAY, SSH_PORT)).as("the rest of the host is not touched").isTrue();

        String input = lab.in(lab.host, "nft", "list", "chain", "inet", hostRuleset.table(), "input");
        assertThat(input).containsPattern("iifname \"vh\" counter packets [1-9][0-9]* bytes [1-9][0-9]* drop");
        assertThat(hostSide.check(hostRuleset)).as("counted packets are not drift").isEmpty();
    }

    @Test
    @Order(4)
    void tamperingOnTheHostIsDriftAndRemoveTakesOnlyThisTable() throws Exception {
        lab.in(lab.host, "nft", "insert", "rule", "inet", hostRuleset.table(), "input", "iifname", "vh", "accept");
        assertThat(hostSide.check(hostRuleset)).containsExactly("chain input: rule added at position 1: iifname \"vh\" accept");
        lab.in(lab.host, "nft", "chain", "inet", hostRuleset.table(), "forward", "{", "policy", "drop", ";", "}");
        assertThat(hostSide.check(hostRuleset)).contains("chain forward: policy is drop, expected accept");

        hostSide.remove(hostRuleset.table());
        hostSide.remove(hostRuleset.table()); // harmless when gone
        String tables = lab.in(lab.host, "nft", "list", "tables");
        assertThat(tables).doesNotContain(hostRuleset.table()).contains("table inet other");
        assertThat(hostSide.check(hostRuleset)).containsExactly("table inet " + hostRuleset.table() + " is missing; run 'enclave host apply --host-side-of " + lab.app + "'");
    }
}
