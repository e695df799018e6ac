package dev.enclave.host.netns;

import dev.enclave.host.HostFirewallException;
import dev.enclave.host.Nft;
import java.net.Inet4Address;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The local target's app side: network namespace {@code name} joined to this host by one veth pair,
 * {@code hostAddress/24} on the host end ({@link #hostInterface()}) and {@code appAddress/24} on the
 * app end ({@code eth0} inside the namespace), loopback up, and no default route: from inside, the
 * only reachable network is the /24 on the veth, and the host firewall narrows that to two ports.
 *
 * <p>{@link #create} is all or nothing: on any failure what it made is removed again before the
 * error is thrown. {@link #destroy} removes the pair and the namespace (and with it the firewall
 * table inside) and does nothing for parts that are already gone.
 */
public final class AppNamespace {
    /** The name for the app namespace. */
    public static final String DEFAULT_NAME = "enclave-app";
    public static final String APP_INTERFACE = "eth0";
    static final int PREFIX = 24;
    public static final String NAME_SYNTAX = "[a-z0-9][a-z0-9-]{0,11}";

    /** Runs {@code ip ARGS}; tests wrap it to make one step fail. */
    interface IpRunner {
        void ip(String... args) throws HostFirewallException;
    }

    private final String name;
    private final Inet4Address hostAddress;
    private final Inet4Address appAddress;
    private final IpRunner runner;

    private AppNamespace(String name, Inet4Address hostAddress, Inet4Address appAddress, IpRunner runner) {
        this.name = name;
        this.hostAddress = hostAddress;
        this.appAddress = appAddress;
        this.runner = runner;
    }

    /** The same namespace, its {@code ip} commands going through {@code runner}. */
    AppNamespace withRunner(IpRunner runner) {
        return new AppNamespace(name, hostAddress, appAddress, runner);
    }

    /**
     * The namespace {@code name} (at most 12 of a-z, 0-9 and '-', so that the host interface name,
     * {@code ve-NAME}, fits the kernel's 15 characters) with the two ends' addresses, which must
     * share one /24.
     */
    public static AppNamespace of(String name, Inet4Address hostAddress, Inet4Address appAddress) {
        if (name == null || !name.matches(NAME_SYNTAX)) {
            throw new IllegalArgumentException("\"" + name + "\" is not a usable namespace name: 1-12 of a-z, 0-9 and '-'");
        }
        byte[] h = hostAddress.getAddress();
        byte[] a = appAddress.getAddress();
        if (h[0] != a[0] || h[1] != a[1] || h[2] != a[2] || h[3] == a[3]) {
            throw new IllegalArgumentException("the host side (" + hostAddress.getHostAddress() + ") and the app ("
                    + appAddress.getHostAddress() + ") must be two addresses of one /24, e.g. 10.77.1.1 and 10.77.1.2");
        }
        return new AppNamespace(name, hostAddress, appAddress, AppNamespace::ip);
    }

    public String name() {
        return name;
    }

    /** The veth end that stays on the host. */
    public String hostInterface() {
        return hostInterfaceOf(name);
    }

    /** The host end of namespace {@code name}'s veth, {@code ve-NAME}: down needs it without the addresses. */
    public static String hostInterfaceOf(String name) {
        return "ve-" + name;
    }

    public Inet4Address hostAddress() {
        return hostAddress;
    }

    public Inet4Address appAddress() {
        return appAddress;
    }

    /** True when the namespace exists (as {@code ip netns} keeps it, under /run/netns). */
    public boolean exists() {
        return Files.exists(Path.of("/run/netns", name));
    }

    /** True when the host end of the veth pair exists. */
    public boolean hostInterfaceExists() {
        return Files.exists(Path.of("/sys/class/net", hostInterface()));
    }

    /**
     * Creates the namespace and the veth pair. Refuses when either already exists (it may be
     * another Enclave's, or a leftover: {@code enclave down} removes it). All or nothing.
     */
    public void create() throws HostFirewallException {
        if (exists()) {
            throw new HostFirewallException("network namespace " + name + " already exists; if it is a leftover, "
                    + "'enclave down' removes it (or: ip netns del " + name + ")");
        }
        if (hostInterfaceExists()) {
            throw new HostFirewallException("network interface " + hostInterface() + " already exists; if it is a leftover, "
                    + "'enclave down' removes it (or: ip link del " + hostInterface() + ")");
        }
        Deque<List<String>> undo = new ArrayDeque<>();
        try {
            runner.ip("netns", "add", name);
            undo.push(List.of("netns", "del", name));
            runner.ip("link", "add", hostInterface(), "type", "veth", "peer", "name", APP_INTERFACE, "netns", name);
            undo.push(List.of("link", "del", hostInterface()));
            runner.ip("addr", "add", hostAddress.getHostAddress() + "/" + PREFIX, "dev", hostInterface());
            runner.ip("link", "set", hostInterface(), "up");
            runner.ip("-n", name, "addr", "add", appAddress.getHostAddress() + "/" + PREFIX, "dev", APP_INTERFACE);
            runner.ip("-n", name, "link", "set", APP_INTERFACE, "up");
            runner.ip("-n", name, "link", "set", "lo", "up");
        } catch (HostFirewallException e) {
            List<String> leftovers = new ArrayList<>();
            while (!undo.isEmpty()) {
                List<String> step = undo.pop();
                try {
                    runner.ip(step.toArray(String[]::new));
                } catch (HostFirewallException again) {
                    leftovers.add("ip " + String.join(" ", step));
                }
            }
            throw new HostFirewallException(e.getMessage() + (leftovers.isEmpty() ? ""
                    : "; could not undo everything, run: " + String.join(" && ", leftovers)));
        }
    }

    /** Removes the veth pair and the namespace (with everything inside it); a part already gone is skipped. */
    public void destroy() throws HostFirewallException {
        if (hostInterfaceExists()) {
            runner.ip("link", "del", hostInterface());
        }
        if (exists()) {
            runner.ip("netns", "del", name);
        }
    }

    /** {@code ip ARGS}; a failure becomes one line with ip's own reason. */
    static void ip(String... args) throws HostFirewallException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Nft.tool("ip"));
        cmd.addAll(List.of(args));
        Nft.Result r = Nft.exec(cmd, null, null);
        if (r.exit() != 0) {
            String reason = r.output().strip().lines().findFirst().orElse("exit " + r.exit());
            if (reason.contains("Operation not permitted") || reason.contains("Permission denied")) {
                throw new HostFirewallException("not permitted to create network namespaces or interfaces (" + reason
                        + "); run as root (sudo enclave up) or with CAP_NET_ADMIN and CAP_SYS_ADMIN");
            }
            throw new HostFirewallException("ip " + String.join(" ", args) + " failed: " + reason);
        }
    }

    @Override
    public String toString() {
        return "network namespace " + name + " (" + appAddress.getHostAddress() + "/" + PREFIX + ", host side "
                + hostInterface() + " " + hostAddress.getHostAddress() + ")";
    }
}
