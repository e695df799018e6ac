import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Load generator and origin server for bench/egress.sh. One file, JDK only (Java 17):
 *
 * <pre>
 *   java bench/EgressLoad.java origin     --port P [--seconds S]
 *   java bench/EgressLoad.java throughput --proxy PORT --mode connect|direct --target localhost:OP --bytes N --dir down|up
 *   java bench/EgressLoad.java rate       --proxy PORT --mode connect|direct --target localhost:OP --workers 64 --seconds 10 [--pid PID]
 *   java bench/EgressLoad.java idle       --proxy PORT --mode connect|direct --target localhost:OP --count 1000 --pid PID
 *   java bench/EgressLoad.java report     RESULTS_FILE
 * </pre>
 *
 * Every address is 127.0.0.1; every loop is bounded by a count and a deadline. {@code --mode connect}
 * speaks HTTP CONNECT to the proxy; {@code --mode direct} is for a plain relay (socat), which is
 * connected to and then used as if it were the tunnel.
 *
 * <p>Origin protocol (one command line per connection): {@code DOWN n\n} the origin sends n bytes;
 * {@code UP n\n} the origin reads n bytes and answers {@code OK\n}; {@code PING\n} the origin answers
 * a fixed 64-byte line; then it waits for the client to close.
 *
 * <p>Measurement lines start with {@code RESULT} and are {@code key=value} pairs, collected by
 * {@code report} into the comparison table.
 */
public class EgressLoad {
    static final String LOOPBACK = "127.0.0.1";
    static final byte[] PONG = ("PONG " + "x".repeat(58) + "\n").getBytes(StandardCharsets.US_ASCII); // 64 bytes
    static final int CORES = Runtime.getRuntime().availableProcessors();

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: EgressLoad origin|throughput|rate|idle|report ...");
            System.exit(2);
        }
        Map<String, String> o = opts(args);
        switch (args[0]) {
            case "origin" -> origin(o);
            case "throughput" -> throughput(o);
            case "rate" -> rate(o);
            case "idle" -> idle(o);
            case "report" -> report(Path.of(args[1]));
            default -> {
                System.err.println("unknown command " + args[0]);
                System.exit(2);
            }
        }
    }

    static Map<String, String> opts(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --option, got " + args[i]);
            }
            m.put(args[i].substring(2), args[i + 1]);
        }
        return m;
    }

    static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + k);
        }
        return v;
    }

    // ---------------------------------------------------------------- origin

    /** Thread-per-connection origin on 127.0.0.1; exits by itself after --seconds (default 900). */
    static void origin(Map<String, String> o) throws Exception {
        int port = Integer.parseInt(need(o, "port"));
        long seconds = Long.parseLong(o.getOrDefault("seconds", "900"));
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        ss.bind(new InetSocketAddress(InetAddress.getByName(LOOPBACK), port), 4096);
        System.out.println("origin listening on " + LOOPBACK + ":" + ss.getLocalPort());
        System.out.flush();
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(null, r, "origin-conn", 256 * 1024);
            t.setDaemon(true);
            return t;
        });
        Thread stopper = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000);
            } catch (InterruptedException ignored) {
            }
            System.exit(0);
        });
        stopper.setDaemon(true);
        stopper.start();
        while (true) {
            Socket s = ss.accept();
            pool.execute(() -> serve(s));
        }
    }

    static void serve(Socket s) {
        try (s) {
            s.setTcpNoDelay(true);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            String line = readLine(in);
            if (line == null) {
                return;
            }
            if (line.equals("PING")) {
                out.write(PONG);
                out.flush();
            } else if (line.startsWith("DOWN ")) {
                long n = Long.parseLong(line.substring(5));
                byte[] buf = new byte[256 * 1024];
                while (n > 0) {
                    int k = (int) Math.min(buf.length, n);
                    out.write(buf, 0, k);
                    n -= k;
                }
                out.flush();
            } else if (line.startsWith("UP ")) {
                long n = Long.parseLong(line.substring(3));
                byte[] buf = new byte[256 * 1024];
                while (n > 0) {
                    int k = in.read(buf, 0, (int) Math.min(buf.length, n));
                    if (k < 0) {
                        return;
                    }
                    n -= k;
                }
                out.write("OK\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } else {
                return;
            }
            // wait for the client to close (bounded by the client, and by the origin's lifetime)
            byte[] sink = new byte[4096];
            while (in.read(sink) >= 0) {
                // discard
            }
        } catch (IOException ignored) {
            // client went away
        }
    }

    static String readLine(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 128; i++) {
            int c = in.read();
            if (c < 0) {
                return null;
            }
            if (c == '\n') {
                return b.toString();
            }
            b.append((char) c);
        }
        throw new IOException("line too long");
    }

    // ---------------------------------------------------------------- client side

    record Tunnel(Socket socket, InputStream in, OutputStream out, long connectNanos, long establishNanos) {
    }

    /**
     * Connects to the proxy and, in connect mode, opens a CONNECT tunnel to {@code target}.
     * establishNanos is the time from sending CONNECT to having read the whole 200 response head.
     */
    static Tunnel open(int proxyPort, boolean connect, String target, int timeoutMs) throws IOException {
        Socket s = new Socket();
        long t0 = System.nanoTime();
        try {
            s.setTcpNoDelay(true);
            s.setSoTimeout(timeoutMs);
            s.connect(new InetSocketAddress(LOOPBACK, proxyPort), timeoutMs);
            long t1 = System.nanoTime();
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            long established = 0;
            if (connect) {
                out.write(("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String head = readHead(in);
                established = System.nanoTime() - t1;
                if (!head.startsWith("HTTP/1.1 200") && !head.startsWith("HTTP/1.0 200")) {
                    throw new IOException("proxy refused: " + head.lines().findFirst().orElse(""));
                }
            }
            return new Tunnel(s, in, out, t1 - t0, established);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Reads a response head byte by byte, so no tunnel byte after it is consumed. */
    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream(128);
        int state = 0;
        while (b.size() < 8192) {
            int c = in.read();
            if (c < 0) {
                throw new IOException("proxy closed before the end of its response head: " + b);
            }
            b.write(c);
            state = switch (state) {
                case 0 -> c == '\r' ? 1 : 0;
                case 1 -> c == '\n' ? 2 : (c == '\r' ? 1 : 0);
                case 2 -> c == '\r' ? 3 : 0;
                case 3 -> c == '\n' ? 4 : (c == '\r' ? 1 : 0);
                default -> 0;
            };
            if (state == 4) {
                return b.toString(StandardCharsets.ISO_8859_1);
            }
        }
        throw new IOException("response head too long");
    }

    static void readFully(InputStream in, byte[] buf, int n) throws IOException {
        int off = 0;
        while (off < n) {
            int k = in.read(buf, off, n - off);
            if (k < 0) {
                throw new IOException("EOF after " + off + " of " + n + " bytes");
            }
            off += k;
        }
    }

    static void ping(Tunnel t, byte[] buf) throws IOException {
        t.out().write("PING\n".getBytes(StandardCharsets.US_ASCII));
        t.out().flush();
        readFully(t.in(), buf, PONG.length);
        if (buf[0] != 'P' || buf[PONG.length - 1] != '\n') {
            throw new IOException("bad PONG");
        }
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** Generator CPU over a wall interval: percent of one core, and of the whole machine. */
    static String cpuFields(long cpu, long wall) {
        double oneCore = 100.0 * cpu / wall;
        return String.format(Locale.ROOT, "gen_cpu_core_pct=%.0f gen_cpu_machine_pct=%.0f", oneCore, oneCore / CORES);
    }

    static String label(Map<String, String> o) {
        return o.getOrDefault("label", "proxy");
    }

    // ---------------------------------------------------------------- throughput

    static void throughput(Map<String, String> o) throws Exception {
        int proxy = Integer.parseInt(need(o, "proxy"));
        boolean connect = need(o, "mode").equals("connect");
        String target = need(o, "target");
        long bytes = Long.parseLong(need(o, "bytes"));
        String dir = need(o, "dir");
        int timeoutMs = Integer.parseInt(o.getOrDefault("timeout-ms", "120000"));
        Tunnel t = open(proxy, connect, target, timeoutMs);
        try (Socket s = t.socket()) {
            byte[] buf = new byte[256 * 1024];
            long pid = Long.parseLong(o.getOrDefault("pid", "0"));
            long proxyCpu0 = pid > 0 ? ProcTree.cpuTicks(pid) : 0;
            long cpu0 = cpuNanos();
            long t0 = System.nanoTime();
            if (dir.equals("down")) {
                t.out().write(("DOWN " + bytes + "\n").getBytes(StandardCharsets.US_ASCII));
                t.out().flush();
                long left = bytes;
                while (left > 0) {
                    int k = t.in().read(buf, 0, (int) Math.min(buf.length, left));
                    if (k < 0) {
                        throw new IOException("EOF with " + left + " bytes left");
                    }
                    left -= k;
                }
            } else {
                t.out().write(("UP " + bytes + "\n").getBytes(StandardCharsets.US_ASCII));
                long left = bytes;
                while (left > 0) {
                    int k = (int) Math.min(buf.length, left);
                    t.out().write(buf, 0, k);
                    left -= k;
                }
                t.out().flush();
                readFully(t.in(), buf, 3);
                if (buf[0] != 'O' || buf[1] != 'K') {
                    throw new IOException("origin did not confirm the upload");
                }
            }
            long wall = System.nanoTime() - t0;
            long cpu = cpuNanos() - cpu0;
            double mbps = bytes / (wall / 1e9) / 1e6;
            String proxyCpu = pid > 0 ? String.format(Locale.ROOT, " proxy_cpu_core_pct=%.0f",
                    100.0 * (ProcTree.cpuTicks(pid) - proxyCpu0) / ProcTree.TICKS / (wall / 1e9)) : "";
            System.out.printf(Locale.ROOT, "RESULT label=%s test=throughput_%s bytes=%d seconds=%.3f mb_per_s=%.1f %s%s%n",
                    label(o), dir, bytes, wall / 1e9, mbps, cpuFields(cpu, wall), proxyCpu);
        }
    }

    // ---------------------------------------------------------------- tunnel rate and latency

    static void rate(Map<String, String> o) throws Exception {
        int proxy = Integer.parseInt(need(o, "proxy"));
        boolean connect = need(o, "mode").equals("connect");
        String target = need(o, "target");
        int workers = Integer.parseInt(o.getOrDefault("workers", "64"));
        double seconds = Double.parseDouble(o.getOrDefault("seconds", "10"));
        int maxPerWorker = Integer.parseInt(o.getOrDefault("max-per-worker", "200000"));
        int timeoutMs = Integer.parseInt(o.getOrDefault("timeout-ms", "5000"));
        int warmupMs = Integer.parseInt(o.getOrDefault("warmup-ms", "1000"));
        long pid = Long.parseLong(o.getOrDefault("pid", "0"));
        String test = o.getOrDefault("test", "rate");

        // warm-up: same loop, results discarded (JIT for both the generator and a JVM proxy)
        runWorkers(proxy, connect, target, workers, warmupMs / 1000.0, maxPerWorker, timeoutMs);

        long proxyCpu0 = pid > 0 ? ProcTree.cpuTicks(pid) : 0;
        long cpu0 = cpuNanos();
        long t0 = System.nanoTime();
        WorkerStats[] st = runWorkers(proxy, connect, target, workers, seconds, maxPerWorker, timeoutMs);
        long wall = System.nanoTime() - t0;
        long cpu = cpuNanos() - cpu0;
        long proxyCpu = pid > 0 ? ProcTree.cpuTicks(pid) - proxyCpu0 : -1;

        long ok = 0;
        long errors = 0;
        String firstError = null;
        for (int i = 0; i < st.length; i++) {
            ok += st[i].n;
            errors += st[i].errors;
            if (firstError == null) {
                firstError = st[i].firstError;
            }
        }
        long[] e = new long[(int) ok];
        long[] a = new long[(int) ok];
        long[] c = new long[(int) ok];
        int k = 0;
        for (WorkerStats w : st) {
            System.arraycopy(w.establish, 0, e, k, w.n);
            System.arraycopy(w.total, 0, a, k, w.n);
            System.arraycopy(w.connect, 0, c, k, w.n);
            k += w.n;
        }
        Arrays.sort(e);
        Arrays.sort(a);
        Arrays.sort(c);
        double rate = ok / (wall / 1e9);
        String proxyCpuField = proxyCpu < 0 ? "" : String.format(Locale.ROOT, " proxy_cpu_core_pct=%.0f",
                100.0 * proxyCpu / ProcTree.TICKS / (wall / 1e9));
        System.out.printf(Locale.ROOT,
                "RESULT label=%s test=%s workers=%d seconds=%.2f tunnels=%d errors=%d tunnels_per_s=%.0f"
                        + " establish_p50_ms=%.3f establish_p99_ms=%.3f total_p50_ms=%.3f total_p99_ms=%.3f"
                        + " tcp_connect_p50_ms=%.3f tcp_connect_p99_ms=%.3f %s%s%n",
                label(o), test, workers, wall / 1e9, ok, errors, rate,
                pct(e, 50), pct(e, 99), pct(a, 50), pct(a, 99), pct(c, 50), pct(c, 99),
                cpuFields(cpu, wall), proxyCpuField);
        if (firstError != null) {
            System.err.println(label(o) + " " + test + ": first error: " + firstError);
        }
    }

    static double pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100.0 * sorted.length) - 1));
        return sorted[i] / 1e6;
    }

    static final class WorkerStats {
        long[] establish;
        long[] total;
        long[] connect;
        int n;
        long errors;
        String firstError;

        WorkerStats(int cap) {
            establish = new long[Math.min(cap, 1 << 12)];
            total = new long[establish.length];
            connect = new long[establish.length];
        }

        void add(long c, long e, long t) {
            if (n == establish.length) {
                establish = Arrays.copyOf(establish, n * 2);
                total = Arrays.copyOf(total, n * 2);
                connect = Arrays.copyOf(connect, n * 2);
            }
            connect[n] = c;
            establish[n] = e;
            total[n] = t;
            n++;
        }
    }

    /**
     * {@code workers} threads, each: connect, CONNECT (connect mode), PING/PONG through the tunnel,
     * close; until the deadline or maxPerWorker tunnels. Errors are counted, and a worker stops
     * after 100 of them.
     */
    static WorkerStats[] runWorkers(int proxy, boolean connect, String target, int workers, double seconds,
                                    int maxPerWorker, int timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        WorkerStats[] st = new WorkerStats[workers];
        Thread[] th = new Thread[workers];
        for (int i = 0; i < workers; i++) {
            WorkerStats w = st[i] = new WorkerStats(maxPerWorker);
            th[i] = new Thread(null, () -> {
                byte[] buf = new byte[PONG.length];
                for (int j = 0; j < maxPerWorker && System.nanoTime() < deadline && w.errors < 100; j++) {
                    long t0 = System.nanoTime();
                    try {
                        Tunnel t = open(proxy, connect, target, timeoutMs);
                        try (Socket s = t.socket()) {
                            ping(t, buf);
                        }
                        w.add(t.connectNanos(), t.establishNanos(), System.nanoTime() - t0);
                    } catch (IOException ex) {
                        w.errors++;
                        if (w.firstError == null) {
                            w.firstError = ex.toString();
                        }
                    }
                }
            }, "worker-" + i, 256 * 1024);
            th[i].start();
        }
        for (Thread t : th) {
            t.join();
        }
        return st;
    }

    // ---------------------------------------------------------------- idle tunnels and RSS

    static void idle(Map<String, String> o) throws Exception {
        int proxy = Integer.parseInt(need(o, "proxy"));
        boolean connect = need(o, "mode").equals("connect");
        String target = need(o, "target");
        int count = Integer.parseInt(o.getOrDefault("count", "1000"));
        long pid = Long.parseLong(need(o, "pid"));
        int settleMs = Integer.parseInt(o.getOrDefault("settle-ms", "2000"));
        long before = ProcTree.rssKb(pid);
        List<Tunnel> open = new ArrayList<>(count);
        byte[] buf = new byte[PONG.length];
        long deadline = System.nanoTime() + 60_000_000_000L;
        int failed = 0;
        String firstError = null;
        try {
            for (int i = 0; i < count && System.nanoTime() < deadline; i++) {
                try {
                    Tunnel t = open(proxy, connect, target, 10_000);
                    open.add(t);
                    ping(t, buf); // proves the tunnel reaches the origin
                } catch (IOException e) {
                    failed++;
                    if (firstError == null) {
                        firstError = e.toString();
                    }
                    if (failed > 20) {
                        break;
                    }
                }
            }
            Thread.sleep(settleMs);
            // check again that every tunnel is still open (a proxy that dropped them would look small)
            int alive = 0;
            for (Tunnel t : open) {
                try {
                    t.socket().setSoTimeout(1);
                    int c = t.in().read();
                    if (c >= 0) {
                        alive++; // unexpected data, still open
                    }
                } catch (SocketTimeoutException e) {
                    alive++; // nothing to read and not closed: open
                } catch (IOException e) {
                    // closed or reset
                }
            }
            ProcTree.Snapshot after = ProcTree.snapshot(pid);
            System.out.printf(Locale.ROOT,
                    "RESULT label=%s test=idle tunnels=%d alive=%d failed=%d rss_before_mb=%.1f rss_mb=%.1f"
                            + " kb_per_tunnel=%.1f pss_mb=%.1f processes=%d threads=%d%n",
                    label(o), open.size(), alive, failed, before / 1024.0, after.rssKb() / 1024.0,
                    open.isEmpty() ? 0.0 : (after.rssKb() - before) / (double) open.size(), after.pssKb() / 1024.0,
                    after.processes(), after.threads());
            if (firstError != null) {
                System.err.println(label(o) + " idle: first error: " + firstError);
            }
        } finally {
            for (Tunnel t : open) {
                try {
                    t.socket().close();
                } catch (IOException ignored) {
                }
            }
        }
    }

    /** A process and all its descendants, read from /proc. */
    static final class ProcTree {
        static final long TICKS = 100; // USER_HZ on Linux

        record Snapshot(long rssKb, long pssKb, int processes, int threads) {
        }

        static List<Long> tree(long root) throws IOException {
            Map<Long, List<Long>> children = new HashMap<>();
            try (var dirs = Files.list(Path.of("/proc"))) {
                for (Path p : (Iterable<Path>) dirs::iterator) {
                    String name = p.getFileName().toString();
                    if (!name.chars().allMatch(Character::isDigit)) {
                        continue;
                    }
                    try {
                        String stat = Files.readString(p.resolve("stat"));
                        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                        children.computeIfAbsent(Long.parseLong(f[1]), x -> new ArrayList<>()).add(Long.parseLong(name));
                    } catch (IOException | RuntimeException ignored) {
                        // process exited meanwhile
                    }
                }
            }
            List<Long> out = new ArrayList<>();
            List<Long> todo = new ArrayList<>(List.of(root));
            while (!todo.isEmpty()) {
                long p = todo.remove(todo.size() - 1);
                out.add(p);
                todo.addAll(children.getOrDefault(p, List.of()));
            }
            return out;
        }

        static long status(long pid, String key) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                    if (line.startsWith(key + ":")) {
                        return Long.parseLong(line.substring(key.length() + 1).trim().split("\\s+")[0]);
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // gone
            }
            return 0;
        }

        /** Proportional set size: shared pages divided among the processes that map them (fair for forks). */
        static long pssKb(long pid) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
                    if (line.startsWith("Pss:")) {
                        return Long.parseLong(line.substring(4).trim().split("\\s+")[0]);
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // gone, or no smaps_rollup
            }
            return 0;
        }

        static long rssKb(long root) throws IOException {
            return snapshot(root).rssKb();
        }

        static Snapshot snapshot(long root) throws IOException {
            long rss = 0;
            long pss = 0;
            int threads = 0;
            List<Long> pids = tree(root);
            for (long p : pids) {
                rss += status(p, "VmRSS");
                pss += pssKb(p);
                threads += (int) status(p, "Threads");
            }
            return new Snapshot(rss, pss, pids.size(), threads);
        }

        /** utime+stime of the tree, plus cutime+cstime of the root (children it already reaped). */
        static long cpuTicks(long root) throws IOException {
            long sum = 0;
            for (long p : tree(root)) {
                try {
                    String stat = Files.readString(Path.of("/proc/" + p + "/stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    // fields after ')': [0]=state ... utime=[11] stime=[12] cutime=[13] cstime=[14]
                    sum += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                    if (p == root) {
                        sum += Long.parseLong(f[13]) + Long.parseLong(f[14]);
                    }
                } catch (IOException | RuntimeException ignored) {
                    // exited meanwhile
                }
            }
            return sum;
        }
    }

    // ---------------------------------------------------------------- report

    static void report(Path file) throws IOException {
        Map<String, Map<String, String>> byTest = new LinkedHashMap<>(); // "label/test" -> fields
        List<String> labels = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (!line.startsWith("RESULT ")) {
                continue;
            }
            Map<String, String> f = new LinkedHashMap<>();
            for (String kv : line.substring(7).trim().split(" ")) {
                int eq = kv.indexOf('=');
                if (eq > 0) {
                    f.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
            String l = f.get("label");
            if (!labels.contains(l)) {
                labels.add(l);
            }
            byTest.put(l + "/" + f.get("test"), f);
        }
        String[][] rows = {
                {"throughput_down", "mb_per_s", "1 GiB download through one tunnel, MB/s", "hi"},
                {"throughput_up", "mb_per_s", "1 GiB upload through one tunnel, MB/s", "hi"},
                {"cold", "tunnels_per_s", "new tunnels/s, 64 workers, first seconds after start (cold)", "hi"},
                {"rate", "tunnels_per_s", "new tunnels/s, 64 workers (warm)", "hi"},
                {"rate", "establish_p50_ms", "  CONNECT->200 p50 ms (64 workers)", "lo"},
                {"rate", "establish_p99_ms", "  CONNECT->200 p99 ms (64 workers)", "lo"},
                {"rate", "total_p50_ms", "  whole tunnel p50 ms (64 workers)", "lo"},
                {"rate", "total_p99_ms", "  whole tunnel p99 ms (64 workers)", "lo"},
                {"rate", "errors", "  errors (64 workers)", "lo"},
                {"rate", "gen_cpu_machine_pct", "  generator CPU, % of machine", "-"},
                {"rate", "proxy_cpu_core_pct", "  proxy CPU, % of one core", "-"},
                {"latency", "tunnels_per_s", "tunnels/s, 1 worker (sequential)", "hi"},
                {"latency", "establish_p50_ms", "  CONNECT->200 p50 ms (1 worker)", "lo"},
                {"latency", "establish_p99_ms", "  CONNECT->200 p99 ms (1 worker)", "lo"},
                {"latency", "total_p50_ms", "  whole tunnel p50 ms (1 worker)", "lo"},
                {"latency", "total_p99_ms", "  whole tunnel p99 ms (1 worker)", "lo"},
                {"latency", "added_p50_ms", "  added p50 ms vs socat (1 worker)", "lo"},
                {"latency", "added_p99_ms", "  added p99 ms vs socat (1 worker)", "lo"},
                {"idle", "rss_before_mb", "RSS before opening idle tunnels, MB", "lo"},
                {"idle", "rss_mb", "RSS with the idle tunnels open, MB", "lo"},
                {"idle", "kb_per_tunnel", "  RSS growth per idle tunnel, KB", "lo"},
                {"idle", "pss_mb", "  PSS with the idle tunnels open, MB", "lo"},
                {"idle", "tunnels", "  idle tunnels opened", "-"},
                {"idle", "alive", "  tunnels still open at measurement", "-"},
                {"idle", "processes", "  processes", "-"},
                {"idle", "threads", "  threads", "-"},
        };
        // added latency: proxy whole-tunnel percentile minus socat's (socat: connect + PING/PONG)
        for (String l : labels) {
            Map<String, String> lat = byTest.get(l + "/latency");
            Map<String, String> base = byTest.get("socat/latency");
            if (lat != null && base != null) {
                for (String p : new String[] {"50", "99"}) {
                    double d = Double.parseDouble(lat.get("total_p" + p + "_ms")) - Double.parseDouble(base.get("total_p" + p + "_ms"));
                    lat.put("added_p" + p + "_ms", String.format(Locale.ROOT, "%.3f", d));
                }
            }
        }
        StringBuilder sb = new StringBuilder();
        sb.append("| measurement |");
        for (String l : labels) {
            sb.append(' ').append(l).append(" |");
        }
        sb.append(" enclave/squid | enclave/socat |\n|---|");
        sb.append("---:|".repeat(labels.size() + 2)).append('\n');
        for (String[] r : rows) {
            boolean any = false;
            StringBuilder line = new StringBuilder("| " + r[2] + " |");
            for (String l : labels) {
                Map<String, String> f = byTest.get(l + "/" + r[0]);
                String v = f == null ? null : f.get(r[1]);
                any |= v != null;
                line.append(' ').append(v == null ? "–" : v).append(" |");
            }
            line.append(' ').append(ratio(byTest, "enclave", "squid", r)).append(" |");
            line.append(' ').append(ratio(byTest, "enclave", "socat", r)).append(" |");
            if (any) {
                sb.append(line).append('\n');
            }
        }
        System.out.print(sb);
    }

    static String ratio(Map<String, Map<String, String>> byTest, String a, String b, String[] row) {
        if (row[3].equals("-") || row[1].startsWith("added") || row[1].equals("errors") || row[1].equals("alive") || row[1].equals("kb_per_tunnel")) {
            return "";
        }
        Map<String, String> fa = byTest.get(a + "/" + row[0]);
        Map<String, String> fb = byTest.get(b + "/" + row[0]);
        if (fa == null || fb == null || fa.get(row[1]) == null || fb.get(row[1]) == null) {
            return "";
        }
        double x = Double.parseDouble(fa.get(row[1]));
        double y = Double.parseDouble(fb.get(row[1]));
        if (y == 0 || Double.isNaN(x) || Double.isNaN(y)) {
            return "";
        }
        return String.format(Locale.ROOT, "%.2fx", x / y);
    }

}
