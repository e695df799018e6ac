package dev.enclave.cli;

import java.io.IOException;
import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code enclave up} checks before it changes anything, each failure one line naming the fix:
 * the privileges to make a network namespace and firewall rules, the tools it runs, and the ports
 * its servers will listen on.
 */
final class Prerequisites {
    private static final int CAP_NET_ADMIN = 12;
    private static final int CAP_SYS_ADMIN = 21;

    private Prerequisites() {
    }

    /** Root, or at least CAP_NET_ADMIN and CAP_SYS_ADMIN (ip netns add mounts the namespace). */
    static void privileges(String verb) {
        BigInteger caps = effectiveCapabilities();
        if (caps == null || !caps.testBit(CAP_NET_ADMIN) || !caps.testBit(CAP_SYS_ADMIN)) {
            throw UserError.usage("'enclave " + verb + "' needs root (it creates a network namespace and firewall rules); run: sudo ./enclave " + verb);
        }
    }

    /** The tools up runs: ip (namespace, veth), nft (firewall), setpriv (the app's user). */
    static void tools() {
        for (String[] t : new String[][] {{"ip", "iproute2"}, {"nft", "nftables"}, {"setpriv", "util-linux"}}) {
            if (dev.enclave.host.Nft.tool(t[0]).indexOf('/') < 0) {
                throw UserError.usage(t[0] + " not found; install it: apt-get install -y " + t[1]);
            }
        }
    }

    /**
     * Every address in {@code wanted} that something on this host already listens on (or on the
     * same port of every address), as {@code "ADDR:PORT (what)"}; read from /proc/net/tcp and tcp6
     * because the host-side addresses do not exist yet and cannot be bound to try.
     */
    static List<String> portsInUse(List<InetSocketAddress> wanted, List<String> what) throws IOException {
        List<String> busy = new ArrayList<>();
        List<long[]> listening = new ArrayList<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path p = Path.of(table);
            if (!Files.exists(p)) {
                continue;
            }
            for (String line : Files.readAllLines(p)) {
                String[] f = line.strip().split("\\s+");
                if (f.length < 4 || !f[3].equals("0A")) { // 0A: LISTEN
                    continue;
                }
                String[] local = f[1].split(":");
                String addr = local[0];
                if (addr.length() == 32 && addr.startsWith("0000000000000000FFFF0000")) {
                    addr = addr.substring(24); // an IPv4-mapped IPv6 socket (Java binds these) holds an IPv4 address
                }
                listening.add(new long[] {Long.parseLong(local[1], 16), addr.matches("0+") ? 1 : 0,
                        addr.length() == 8 ? ipv4Hex(addr) : -1});
            }
        }
        for (int i = 0; i < wanted.size(); i++) {
            InetSocketAddress w = wanted.get(i);
            boolean anyAddress = w.getAddress().isAnyLocalAddress();
            long want = w.getAddress() instanceof Inet4Address ? toLong(w.getAddress()) : -2;
            for (long[] l : listening) {
                if (l[0] == w.getPort() && (anyAddress || l[1] == 1 || l[2] == want)) {
                    busy.add(w.getAddress().getHostAddress() + ":" + w.getPort() + " (" + what.get(i) + ")");
                    break;
                }
            }
        }
        return busy;
    }

    /** /proc/net/tcp writes an IPv4 address as a little-endian hex word. */
    private static long ipv4Hex(String hex) {
        long le = Long.parseLong(hex, 16);
        return ((le & 0xff) << 24) | ((le >> 8 & 0xff) << 16) | ((le >> 16 & 0xff) << 8) | (le >> 24 & 0xff);
    }

    private static long toLong(InetAddress a) {
        byte[] b = a.getAddress();
        return ((b[0] & 0xffL) << 24) | ((b[1] & 0xffL) << 16) | ((b[2] & 0xffL) << 8) | (b[3] & 0xffL);
    }

    private static BigInteger effectiveCapabilities() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    return new BigInteger(line.substring(7).strip(), 16);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return null;
        }
        return null;
    }
}
