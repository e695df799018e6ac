package dev.enclave.host.netns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.host.HostFirewallException;
import dev.enclave.host.testing.HostCommand;
import dev.enclave.host.testing.NetLab;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The app namespace on the real host: made, reachable both ways over its veth, without a default
 * route, gone after destroy, and never half made. Root only (skips with the reason elsewhere).
 */
class AppNamespaceTest {
    private static final String NS = "enclave-nst";
    private static final String HOST = "10.77.94.1";
    private static final String APP = "10.77.94.2";

    private AppNamespace ns;

    @BeforeEach
    void setUp() throws Exception {
        NetLab.assumeRootAndTools();
        ns = AppNamespace.of(NS, ipv4(HOST), ipv4(APP));
        ns.destroy(); // a leftover of an interrupted run
    }

    @AfterEach
    void tearDown() throws Exception {
        if (ns != null) {
            ns.destroy();
        }
    }

    @Test
    void createdNamespaceReachesTheHostSideOverTheVethAndHasNoDefaultRoute() throws Exception {
        ns.create();
        assertThat(ns.exists()).isTrue();
        assertThat(ns.hostInterfaceExists()).isTrue();
        assertThat(HostCommand.run(null, "ip", "-n", NS, "-4", "addr", "show", "dev", "eth0")).contains(APP + "/24");
        assertThat(HostCommand.run(null, "ip", "-4", "addr", "show", "dev", "ve-" + NS)).contains(HOST + "/24");
        assertThat(HostCommand.run(null, "ip", "-n", NS, "route", "show")).doesNotContain("default");
        assertThat(HostCommand.run(null, "ip", "-n", NS, "link", "show", "lo")).contains("UP");

        // Inside to host side: a listener on the host's veth address answers the namespace.
        try (ServerSocket listener = new ServerSocket()) {
            listener.bind(new InetSocketAddress(HOST, 0));
            String out = HostCommand.run(null, "ip", "netns", "exec", NS, "socat", "-u", "OPEN:/dev/null",
                    "TCP:" + HOST + ":" + listener.getLocalPort() + ",connect-timeout=5");
            assertThat(out).isEmpty();
        }
        // Host side to inside: the host connects to a listener in the namespace.
        Process inside = new ProcessBuilder(HostCommand.tool("ip"), "netns", "exec", NS, "socat", "-u",
                "TCP-LISTEN:7001,bind=" + APP + ",reuseaddr", "OPEN:/dev/null").start();
        try {
            assertThat(connectWithin(APP, 7001, 10_000)).isTrue();
        } finally {
            inside.destroy();
        }
        // No default route: anything off the /24 is unreachable from inside.
        HostCommand.Result off = HostCommand.attempt(null, "ip", "netns", "exec", NS, "socat", "-u", "OPEN:/dev/null",
                "TCP:192.0.2.1:80,connect-timeout=2");
        assertThat(off.exit()).isNotZero();
        assertThat(off.output()).contains("Network is unreachable");
    }

    @Test
    void destroyRemovesNamespaceAndVethAndIsHarmlessTwice() throws Exception {
        ns.create();
        ns.destroy();
        assertThat(ns.exists()).isFalse();
        assertThat(ns.hostInterfaceExists()).isFalse();
        assertThat(HostCommand.run(null, "ip", "netns", "list")).doesNotContain(NS);
        ns.destroy();
        ns.create(); // and again from scratch
        assertThat(ns.exists()).isTrue();
    }

    @Test
    void anExistingNamespaceIsRefusedAndLeftAsItWas() throws Exception {
        HostCommand.run(null, "ip", "netns", "add", NS);
        assertThatThrownBy(ns::create).isInstanceOf(HostFirewallException.class)
                .hasMessageContaining("network namespace " + NS + " already exists").hasMessageContaining("enclave down");
        assertThat(ns.exists()).isTrue();
        assertThat(ns.hostInterfaceExists()).isFalse();
    }

    /** create runs seven ip commands; whichever of them fails, nothing is left behind. */
    @ParameterizedTest(name = "ip command {0} of 7 fails: nothing is left")
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7})
    void aFailureAtAnyStepRemovesWhatWasMade(int failing) throws Exception {
        AtomicInteger step = new AtomicInteger();
        AppNamespace failingAtStep = ns.withRunner(args -> {
            if (step.incrementAndGet() == failing) {
                throw new HostFirewallException("injected failure at ip " + String.join(" ", args));
            }
            AppNamespace.ip(args);
        });
        assertThatThrownBy(failingAtStep::create).isInstanceOf(HostFirewallException.class)
                .hasMessageStartingWith("injected failure").hasMessageNotContaining("could not undo");
        assertThat(ns.exists()).isFalse();
        assertThat(ns.hostInterfaceExists()).isFalse();
        assertThat(HostCommand.run(null, "ip", "netns", "list")).doesNotContain(NS);
    }

    @Test
    void namesAndAddressesAreChecked() {
        assertThatThrownBy(() -> AppNamespace.of("Enclave App", ipv4(HOST), ipv4(APP)))
                .hasMessageContaining("not a usable namespace name");
        assertThatThrownBy(() -> AppNamespace.of("a-name-that-is-too-long", ipv4(HOST), ipv4(APP)))
                .hasMessageContaining("1-12");
        assertThatThrownBy(() -> AppNamespace.of(NS, ipv4(HOST), ipv4("10.77.95.2")))
                .hasMessageContaining("one /24");
    }

    private static boolean connectWithin(String host, int port, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 1000);
                return true;
            } catch (java.io.IOException e) {
                Thread.sleep(100); // the listener inside is still starting
            }
        }
        return false;
    }

    static Inet4Address ipv4(String literal) throws java.net.UnknownHostException {
        return (Inet4Address) InetAddress.getByName(literal);
    }
}
