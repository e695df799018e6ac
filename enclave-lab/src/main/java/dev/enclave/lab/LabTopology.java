package dev.enclave.lab;

import static dev.enclave.lab.LabAddresses.APP_NS;
import static dev.enclave.lab.LabAddresses.NET_LINK;
import static dev.enclave.lab.LabAddresses.NET_NS;
import static dev.enclave.lab.LabAddresses.PUB_LINK;
import static dev.enclave.lab.LabAddresses.PUB_NS;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The lab's namespaces and links, as in the seed's diagram:
 *
 * <pre>
 *   enclave-net (the internet)            enclave-pub (public subnet)          enclave-app (private subnet)
 *   to-pub 10.0.0.1, resolver 10.0.0.2 ── eth0 10.0.0.10                      (made by 'enclave up':
 *   lo: 203.0.113.10 LLM API,             gateway :8443 on every address        AppNamespace, veth
 *     198.51.100.10/20/30 sites,          ve-enclave-app 10.0.1.1 ──────────── eth0 10.0.1.2, the app)
 *     .123 NTP, 8.8.8.8, 169.254.169.254  egress :3128, relay :4000
 * </pre>
 *
 * enclave-pub routes to the internet (default via 10.0.0.1) and forwards for the private subnet;
 * enclave-net routes 10.0.1.0/24 back to it. Whether the app's namespace gets a route out is the
 * design's choice ({@link LabDesign#appRoutedOut()}), made by {@link #routeApp} once it exists.
 * Everything is made with {@code ip}; {@link #destroy} removes the namespaces, which takes their
 * links with them, and tolerates any part being gone already.
 */
public final class LabTopology {
    private LabTopology() {
    }

    /** The lab's namespaces that exist (enclave-app may be the local target's: see {@link #destroy}). */
    public static List<String> existing() {
        List<String> found = new ArrayList<>();
        for (String ns : List.of(NET_NS, PUB_NS, APP_NS, LabAddresses.CONTAINER_NS)) {
            if (Files.exists(Path.of("/run/netns", ns))) {
                found.add(ns);
            }
        }
        return found;
    }

    /** Makes enclave-net and enclave-pub, the link between them, the sites' addresses and the routes. */
    public static void create() throws IOException {
        LabShell.must(null, "ip", "netns", "add", NET_NS);
        LabShell.must(null, "ip", "netns", "add", PUB_NS);
        LabShell.must(null, "ip", "-n", NET_NS, "link", "add", NET_LINK, "type", "veth", "peer", "name", PUB_LINK, "netns", PUB_NS);
        LabShell.must(null, "ip", "-n", NET_NS, "addr", "add", LabAddresses.ROUTER + "/24", "dev", NET_LINK);
        LabShell.must(null, "ip", "-n", NET_NS, "addr", "add", LabAddresses.RESOLVER + "/24", "dev", NET_LINK);
        LabShell.must(null, "ip", "-n", NET_NS, "link", "set", NET_LINK, "up");
        LabShell.must(null, "ip", "-n", NET_NS, "link", "set", "lo", "up");
        for (String a : LabAddresses.siteAddresses()) {
            LabShell.must(null, "ip", "-n", NET_NS, "addr", "add", a + "/32", "dev", LabAddresses.SITES_LINK);
        }
        LabShell.must(null, "ip", "-n", NET_NS, "route", "add", "10.0.1.0/24", "via", LabAddresses.PUB);
        LabShell.must(null, "ip", "-n", PUB_NS, "addr", "add", LabAddresses.PUB + "/24", "dev", PUB_LINK);
        LabShell.must(null, "ip", "-n", PUB_NS, "link", "set", PUB_LINK, "up");
        LabShell.must(null, "ip", "-n", PUB_NS, "link", "set", "lo", "up");
        LabShell.must(null, "ip", "-n", PUB_NS, "route", "add", "default", "via", LabAddresses.ROUTER);
        // The public host routes for the private subnet, as the VPC does for its instances.
        LabShell.must(PUB_NS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    }

    /**
     * The app's namespace once 'enclave up' made it: with {@code routedOut}, a default route via the
     * public host, so that whatever stops the app's traffic is its firewall and not a missing route;
     * and unprivileged ping allowed (a fresh namespace allows it to nobody), so that a failed ping
     * is the network's answer and not the ping tool's missing privilege.
     */
    public static void routeApp(boolean routedOut) throws IOException {
        if (routedOut) {
            LabShell.must(null, "ip", "-n", APP_NS, "route", "replace", "default", "via", LabAddresses.PUB_PRIVATE);
        }
        LabShell.must(APP_NS, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647");
    }

    /**
     * A container behind the app host, as Docker makes one (for both designs): namespace enclave-ctr
     * on a link to enclave-app (docker0, 172.17.0.1/16; the container 172.17.0.2), enclave-app
     * forwarding for it, and Docker's own iptables rules there: masquerade out of the subnet, and
     * FORWARD accepting the container's traffic. Its packets pass enclave-app's forward path, never
     * its output chain: whatever stops them must be a forward rule.
     */
    public static void container() throws IOException {
        String ctr = LabAddresses.CONTAINER_NS;
        LabShell.must(null, "ip", "netns", "add", ctr);
        LabShell.must(null, "ip", "-n", APP_NS, "link", "add", LabAddresses.CONTAINER_LINK, "type", "veth", "peer", "name", "eth0", "netns", ctr);
        LabShell.must(null, "ip", "-n", APP_NS, "addr", "add", LabAddresses.CONTAINER_GATEWAY + "/16", "dev", LabAddresses.CONTAINER_LINK);
        LabShell.must(null, "ip", "-n", APP_NS, "link", "set", LabAddresses.CONTAINER_LINK, "up");
        LabShell.must(null, "ip", "-n", ctr, "addr", "add", LabAddresses.CONTAINER + "/16", "dev", "eth0");
        LabShell.must(null, "ip", "-n", ctr, "link", "set", "eth0", "up");
        LabShell.must(null, "ip", "-n", ctr, "link", "set", "lo", "up");
        LabShell.must(null, "ip", "-n", ctr, "route", "add", "default", "via", LabAddresses.CONTAINER_GATEWAY);
        LabShell.must(APP_NS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        LabShell.must(APP_NS, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", LabAddresses.CONTAINER_SUBNET, "!", "-o",
                LabAddresses.CONTAINER_LINK, "-j", "MASQUERADE");
        LabShell.must(APP_NS, "iptables", "-A", "FORWARD", "-o", LabAddresses.CONTAINER_LINK, "-m", "conntrack", "--ctstate",
                "RELATED,ESTABLISHED", "-j", "ACCEPT");
        LabShell.must(APP_NS, "iptables", "-A", "FORWARD", "-i", LabAddresses.CONTAINER_LINK, "!", "-o", LabAddresses.CONTAINER_LINK, "-j", "ACCEPT");
    }

    /**
     * Kills every process in the lab's namespaces and deletes them (their links go with them). A
     * namespace already gone is skipped; returns what it removed, one phrase each.
     */
    public static List<String> destroy() {
        List<String> removed = new ArrayList<>();
        // The local target's enclave-app ('enclave up' on this host) has its veth's host end here, in
        // this namespace; the lab's has it in enclave-pub. Never remove the local target's.
        boolean localTarget = Files.exists(Path.of("/sys/class/net", "ve-" + APP_NS));
        if (localTarget && Files.exists(Path.of("/run/netns", APP_NS))) {
            removed.add("namespace " + APP_NS + " left alone: it is the local target's ('enclave down' removes it)");
        }
        // Every process first, enclave-pub's before the others: a supervisor still starting there could
        // otherwise make the app's namespace after it was looked for.
        int[] killed = new int[4];
        String ctr = LabAddresses.CONTAINER_NS;
        List<String> order = localTarget ? List.of(PUB_NS, NET_NS, ctr) : List.of(PUB_NS, NET_NS, APP_NS, ctr);
        for (int i = 0; i < order.size(); i++) {
            if (Files.exists(Path.of("/run/netns", order.get(i)))) {
                killed[i] = killEverythingIn(order.get(i));
            }
        }
        for (String ns : localTarget ? List.of(ctr, PUB_NS, NET_NS) : List.of(ctr, APP_NS, PUB_NS, NET_NS)) {
            if (!Files.exists(Path.of("/run/netns", ns))) {
                continue;
            }
            int n = killed[order.indexOf(ns)] + killEverythingIn(ns);
            LabShell.Run del = LabShell.root(null, 20, "ip", "netns", "del", ns);
            if (del.ok()) {
                removed.add("namespace " + ns + (n == 0 ? "" : " (" + n + " process" + (n == 1 ? "" : "es") + " killed)"));
            } else {
                removed.add("namespace " + ns + " NOT removed: " + del.firstLine() + "; run: ip netns del " + ns);
            }
        }
        return removed;
    }

    /** SIGKILLs every process in {@code ns}; returns how many. */
    public static int killEverythingIn(String ns) {
        LabShell.Run pids = LabShell.root(null, 10, "ip", "netns", "pids", ns);
        int n = 0;
        for (String pid : pids.output().strip().split("\\s+")) {
            if (pid.matches("\\d+")) {
                ProcessHandle h = ProcessHandle.of(Long.parseLong(pid)).orElse(null);
                if (h != null && h.destroyForcibly()) {
                    n++;
                    h.onExit().orTimeout(5, java.util.concurrent.TimeUnit.SECONDS).exceptionally(e -> h).join();
                }
            }
        }
        return n;
    }
}
