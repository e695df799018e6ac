package dev.enclave.host.testing;

import static dev.enclave.host.testing.HostCommand.attempt;
import static dev.enclave.host.testing.HostCommand.quietly;
import static dev.enclave.host.testing.HostCommand.run;
import static dev.enclave.host.testing.HostCommand.tool;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Three throwaway network namespaces wired as the local target and Docker would wire them:
 * <pre>
 *  host side (H)                      app side (A)                      container (C)
 *  vh 10.77.91.1/24  ───── veth ───── va 10.77.91.2/24
 *     fd77:91::1/64                      fd77:91::2/64
 *     10.77.91.3/32  (another host)      169.254.169.254 via va
 *     169.254.169.254/32 (metadata)   vc 10.77.92.1/24  ───── veth ───── ve 10.77.92.2/24
 *  route 10.77.92.0/24 via A             ip_forward on                    default via 10.77.92.1
 * </pre>
 * The addresses exist only inside these namespaces, so parallel tests cannot collide; the
 * machine's own network is not touched. Listeners are socat processes that answer with a word;
 * probes are socat and ping run inside a namespace. {@link #close} ends the listeners and deletes
 * the namespaces (which deletes the veths with them). Needs root, ip, nft, socat, ping, ss: {@link
 * #create} skips the test with the reason otherwise.
 */
public final class NetLab implements AutoCloseable {
    public static final String HOST_SIDE = "10.77.91.1";
    public static final String APP = "10.77.91.2";
    public static final String OTHER_HOST = "10.77.91.3";
    public static final String METADATA = "169.254.169.254";
    public static final String CONTAINER = "10.77.92.2";
    public static final String HOST_SIDE_6 = "fd77:91::1";
    public static final String APP_6 = "fd77:91::2";

    public final String host;
    public final String app;
    public final String container;
    private final List<Process> listeners = new ArrayList<>();

    private NetLab(String suffix) {
        this.host = "enclave-test-h-" + suffix;
        this.app = "enclave-test-a-" + suffix;
        this.container = "enclave-test-c-" + suffix;
    }

    public static void assumeRootAndTools() {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "needs root: creates network namespaces and loads nftables rules in them (CI runs as root)");
        for (String t : List.of("ip", "nft", "socat", "ping", "ss", "unshare")) {
            assumeTrue(tool(t) != null, "needs " + t + " (Debian packages iproute2, nftables, socat, iputils-ping, util-linux)");
        }
    }

    public static NetLab create() throws IOException, InterruptedException {
        assumeRootAndTools();
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        NetLab lab = new NetLab(HexFormat.of().formatHex(b));
        try {
            lab.wire();
        } catch (IOException | InterruptedException | RuntimeException | AssertionError e) {
            lab.close();
            throw e;
        }
        return lab;
    }

    private void wire() throws IOException, InterruptedException {
        for (String ns : List.of(host, app, container)) {
            run(null, "ip", "netns", "add", ns);
            in(ns, "ip", "link", "set", "lo", "up");
        }
        run(null, "ip", "link", "add", "vh", "netns", host, "type", "veth", "peer", "name", "va", "netns", app);
        run(null, "ip", "link", "add", "vc", "netns", app, "type", "veth", "peer", "name", "ve", "netns", container);
        in(host, "ip", "addr", "add", HOST_SIDE + "/24", "dev", "vh");
        in(host, "ip", "addr", "add", OTHER_HOST + "/32", "dev", "vh");
        in(host, "ip", "addr", "add", METADATA + "/32", "dev", "vh");
        in(host, "ip", "addr", "add", HOST_SIDE_6 + "/64", "dev", "vh", "nodad"); // nodad: usable at once
        in(host, "ip", "link", "set", "vh", "up");
        in(host, "ip", "route", "add", "10.77.92.0/24", "via", APP);
        in(app, "ip", "addr", "add", APP + "/24", "dev", "va");
        in(app, "ip", "addr", "add", APP_6 + "/64", "dev", "va", "nodad");
        in(app, "ip", "link", "set", "va", "up");
        in(app, "ip", "route", "add", METADATA, "dev", "va");
        in(app, "ip", "addr", "add", "10.77.92.1/24", "dev", "vc");
        in(app, "ip", "link", "set", "vc", "up");
        in(app, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
        in(container, "ip", "addr", "add", CONTAINER + "/24", "dev", "ve");
        in(container, "ip", "link", "set", "ve", "up");
        in(container, "ip", "route", "add", "default", "via", "10.77.92.1");
    }

    /** Runs {@code cmd} in namespace {@code ns}; its output, or AssertionError. */
    public String in(String ns, String... cmd) throws IOException, InterruptedException {
        return run(null, prefixed(ns, cmd));
    }

    /** Loads an nft script in namespace {@code ns}. */
    public void nft(String ns, String script) throws IOException, InterruptedException {
        run(script, prefixed(ns, "nft", "-f", "-"));
    }

    /** A TCP listener on every address of {@code ns} that answers each connection with "reached PORT". */
    public void tcpListener(String ns, int port) throws IOException, InterruptedException {
        listen(ns, "tcp", port, "TCP-LISTEN:" + port + ",fork,reuseaddr");
    }

    /** A TCP listener on the IPv6 addresses of {@code ns} only, answering "reached PORT". */
    public void tcp6Listener(String ns, int port) throws IOException, InterruptedException {
        listen(ns, "tcp6", port, "TCP6-LISTEN:" + port + ",fork,reuseaddr,ipv6only=1");
    }

    /** A UDP listener on every address of {@code ns} that answers each datagram with "reached PORT". */
    public void udpListener(String ns, int port) throws IOException, InterruptedException {
        // The answer reads the datagram first: were the shell gone before socat handed it over, socat
        // would fail on the closed pipe and send nothing back.
        listen(ns, "udp", port, "UDP-RECVFROM:" + port + ",fork", "SYSTEM:read question; echo reached " + port);
    }

    private void listen(String ns, String proto, int port, String address) throws IOException, InterruptedException {
        listen(ns, proto, port, address, "SYSTEM:echo reached " + port);
    }

    private void listen(String ns, String proto, int port, String address, String answer) throws IOException, InterruptedException {
        listeners.add(new ProcessBuilder(prefixed(ns, "socat", address, answer))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
        // Wait until the socket is bound (not a timing assertion: the probes below are the assertions).
        for (int i = 0; i < 200; i++) {
            String[] ss = switch (proto) {
                case "tcp" -> new String[] {"ss", "-4Hlnt", "sport = :" + port};
                case "tcp6" -> new String[] {"ss", "-6Hlnt", "sport = :" + port};
                default -> new String[] {"ss", "-4Hlnu", "sport = :" + port};
            };
            if (!in(ns, ss).isBlank()) {
                return;
            }
            Thread.sleep(25);
        }
        throw new AssertionError("socat did not start listening on " + proto + " " + port + " in " + ns);
    }

    /**
     * Whether a TCP connection from {@code ns} to address:port gets the listener's answer: 1 s to
     * connect (the kernel answers a SYN at once, or the table drops it), then up to 5 s for the answer
     * (the listener forks a shell, which a busy machine may take a while to do).
     */
    public boolean tcpReaches(String ns, String address, int port) throws IOException, InterruptedException {
        return tcpReachesFrom(ns, null, address, port);
    }

    /** As {@link #tcpReaches}, from source address {@code bind} (null: the kernel's choice). */
    public boolean tcpReachesFrom(String ns, String bind, String address, int port) throws IOException, InterruptedException {
        return tcpAnswer(ns, bind, address, port).contains("reached " + port);
    }

    /** What a TCP connection from {@code ns} (from {@code bind}, or null) to address:port receives; empty when it fails. */
    public String tcpAnswer(String ns, String bind, String address, int port) throws IOException, InterruptedException {
        String host = address.contains(":") ? "TCP6:[" + address + "]" : "TCP:" + address;
        String target = host + ":" + port + ",connect-timeout=1" + (bind == null ? "" : ",bind=" + bind);
        return attempt(null, prefixed(ns, "socat", "-T", "5", "-u", target, "STDOUT")).output();
    }

    /**
     * Whether a UDP datagram from {@code ns} to address:port gets the listener's answer within 3 s
     * (-t: socat would otherwise give up 0.5 s after its input ends, before a busy machine answers).
     */
    public boolean udpAnswered(String ns, String address, int port) throws IOException, InterruptedException {
        return attempt("question\n", prefixed(ns, "socat", "-t", "3", "-T", "3", "-", "UDP:" + address + ":" + port))
                .output().contains("reached " + port);
    }

    /** Whether one ICMP echo from {@code ns} to {@code address} is answered within 2 s. */
    public boolean pingAnswered(String ns, String address) throws IOException, InterruptedException {
        return attempt(null, prefixed(ns, "ping", "-n", "-c", "1", "-W", "2", address)).exit() == 0;
    }

    private static String[] prefixed(String ns, String... cmd) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        String path = tool(cmd[0]);
        full.add(path == null ? cmd[0] : path);
        full.addAll(List.of(cmd).subList(1, cmd.length));
        return full.toArray(String[]::new);
    }

    @Override
    public void close() {
        for (Process p : listeners) {
            p.destroyForcibly();
        }
        for (Process p : listeners) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (String ns : List.of(container, app, host)) {
            quietly("ip", "netns", "delete", ns);
        }
    }
}
