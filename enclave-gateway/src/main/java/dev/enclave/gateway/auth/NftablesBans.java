package dev.enclave.gateway.auth;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.match.IpLiteral;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The optional kernel drop for banned sources ({@code --ban-nftables}): the {@link LockoutTracker}'s
 * bans mirrored into an nftables set, so the kernel drops a banned source's packets before they
 * reach the gateway. The gateway owns one table and never touches another:
 * <pre>
 * table inet enclave_gateway {
 *   set bans4 { type ipv4_addr; flags timeout; }
 *   set bans6 { type ipv6_addr; flags interval, timeout; }      # IPv6 bans are /64 prefixes
 *   chain input {
 *     type filter hook input priority filter - 5; policy accept;
 *     tcp dport 8443 ip saddr @bans4 counter drop               # one pair per listener; a listener
 *     tcp dport 8443 ip6 saddr @bans6 counter drop              # on one address also matches it
 *   }
 * }
 * </pre>
 * Every element's timeout is its ban's remaining time, so the kernel forgets a ban when the bans file
 * says it ends (at most {@link #MAX_TIMEOUT} at a time; a longer ban is pushed again before that runs
 * out). A new ban adds its element; a ban lifted early, here or through the file
 * ({@code enclave bans unban}, seen within a second), deletes it; {@link #close} deletes the table,
 * the bans file keeps the bans.
 *
 * <p>Every change is one {@code nft -f -} script, a transaction that applies whole or not at all,
 * run on this class's own thread, never an event loop. Scripts are built only from values parsed
 * here and printed back: addresses through {@link IpLiteral}, port numbers, durations; a source
 * that does not parse is reported and left out.
 *
 * <p>Fails closed: the gateway refuses banned sources itself whatever nft does. At start a failure
 * is an error (the operator asked for the kernel drop). Later, a failure is audited and printed
 * once, with its cause and fix, until nft works again; then the whole table is written afresh from
 * the tracker's bans, so changes that failed (say, after {@code nft flush ruleset}) are not lost.
 */
public final class NftablesBans implements LockoutTracker.BanListener, AutoCloseable {
    public static final String TABLE = "enclave_gateway";
    /** Longest element timeout written at once; every kernel in use takes it. */
    static final Duration MAX_TIMEOUT = Duration.ofDays(365);
    /** How long before the kernel would forget a longer ban it is pushed again. */
    private static final Duration REPUSH_BEFORE = Duration.ofDays(1);
    private static final long NFT_TIMEOUT_SECONDS = 10;

    /** Where a source goes: set {@code bans4} or {@code bans6}, and its element text as nft reads it. */
    record Element(String set, String text) {
    }

    private final List<String> nft;
    private final List<InetSocketAddress> listeners;
    private final LockoutTracker lockout;
    private final Clock clock;
    private final AuditLog audit;
    private final Consumer<String> notices;
    private final ScheduledExecutorService worker;
    /** Changes not yet written: source to ban end, or to null for an unban. */
    private final Map<String, Instant> pending = new LinkedHashMap<>();
    private boolean running;
    private boolean drainScheduled;
    // Only touched on the worker thread:
    private final Map<String, Instant> longBans = new LinkedHashMap<>();
    private Instant longBansPushedAt = Instant.EPOCH;
    private boolean failing;
    private final java.util.Set<String> reportedSources = new java.util.HashSet<>();

    NftablesBans(List<String> nft, List<InetSocketAddress> listeners, LockoutTracker lockout, Clock clock,
                         AuditLog audit, Consumer<String> notices) {
        this.nft = List.copyOf(nft);
        this.listeners = List.copyOf(listeners);
        this.lockout = lockout;
        this.clock = clock;
        this.audit = audit;
        this.notices = notices;
        this.worker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "enclave-nftables");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Creates the table with every ban in force and follows {@code lockout} from then on.
     *
     * @param nft       the nft command, e.g. {@code [nft]} or, in tests, {@code [ip, netns, exec, NS, nft]}
     * @param listeners the gateway's bound addresses whose TCP ports the bans close
     * @throws IOException one line naming the cause and the fix (nft missing, not permitted, refused)
     */
    public static NftablesBans start(List<String> nft, List<InetSocketAddress> listeners, LockoutTracker lockout,
                                     Clock clock, AuditLog audit, Consumer<String> notices) throws IOException {
        NftablesBans k = new NftablesBans(nft, listeners, lockout, clock, audit, notices);
        List<LockoutTracker.Ban> active = lockout.listen(k); // changes from here on wait in 'pending'
        String problem = k.run(k.tableScript(active));
        if (problem != null) {
            lockout.listen(null);
            k.worker.shutdownNow();
            throw new IOException(problem);
        }
        audit(audit, AuditEvent.of("gateway", "nftables").put("result", "ok").put("action", "create")
                .put("table", "inet " + TABLE).put("bans", active.size()));
        synchronized (k.pending) {
            k.running = true;
            k.scheduleDrain();
        }
        // The file is looked at every second even while no client comes, since a banned client's
        // packets no longer reach the gateway to make it look.
        k.worker.scheduleWithFixedDelay(k::tick, 1, 1, TimeUnit.SECONDS);
        return k;
    }

    /** The nft command found on PATH, else in /usr/sbin or /sbin (often missing from a user's PATH); else plain {@code nft}. */
    public static List<String> defaultCommand() {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(":")));
        }
        dirs.addAll(List.of("/usr/sbin", "/sbin"));
        for (String d : dirs) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "nft"))) {
                return List.of(Path.of(d, "nft").toString());
            }
        }
        return List.of("nft");
    }

    @Override
    public void banned(LockoutTracker.Ban ban) {
        queue(ban.source(), ban.until());
    }

    @Override
    public void unbanned(String source) {
        queue(source, null);
    }

    private void queue(String source, Instant until) {
        synchronized (pending) {
            pending.remove(source); // keep the order of the latest change
            pending.put(source, until);
            if (running) {
                scheduleDrain();
            }
        }
    }

    private void scheduleDrain() {
        if (!drainScheduled && !pending.isEmpty()) {
            drainScheduled = true;
            worker.execute(this::drain);
        }
    }

    /** Writes every change queued so far in one script. */
    private void drain() {
        Map<String, Instant> changes;
        synchronized (pending) {
            drainScheduled = false;
            changes = new LinkedHashMap<>(pending);
            pending.clear();
        }
        if (changes.isEmpty()) {
            return;
        }
        if (failing) {
            rewriteTable(); // the last write failed: the kernel's set may lack anything, start over
            return;
        }
        StringBuilder script = new StringBuilder();
        Instant now = clock.instant();
        changes.forEach((source, until) -> {
            Element e = element(source);
            if (e == null) {
                return;
            }
            longBans.remove(source);
            forget(script, e);
            if (until != null && until.isAfter(now)) {
                add(script, source, e, until, now);
            }
        });
        if (script.length() > 0) {
            apply(script.toString(), describe(changes));
        }
    }

    /** For the audit line: "ban 203.0.113.7, unban 2001:db8:1:2:0:0:0:0/64" (at most a few). */
    private static String describe(Map<String, Instant> changes) {
        List<String> parts = new ArrayList<>();
        changes.forEach((source, until) -> parts.add((until == null ? "unban " : "ban ") + source));
        return parts.size() <= 5 ? String.join(", ", parts)
                : String.join(", ", parts.subList(0, 5)) + " and " + (parts.size() - 5) + " more";
    }

    /** Every second: pick up the file's changes; push long bans again before the kernel would drop them; retry after a failure. */
    private void tick() {
        try {
            lockout.refresh();
            Instant now = clock.instant();
            if (failing) {
                rewriteTable();
            } else if (!longBans.isEmpty() && !now.isBefore(longBansPushedAt.plus(MAX_TIMEOUT).minus(REPUSH_BEFORE))) {
                StringBuilder script = new StringBuilder();
                Map<String, Instant> renew = new LinkedHashMap<>(longBans);
                longBans.clear();
                renew.forEach((source, until) -> {
                    Element e = element(source);
                    if (e != null && until.isAfter(now)) {
                        forget(script, e);
                        add(script, source, e, until, now);
                    }
                });
                if (script.length() > 0) {
                    apply(script.toString(), "renew long bans");
                }
            }
        } catch (RuntimeException e) {
            report("kernel ban bookkeeping failed (" + e + ")", "tick");
        }
    }

    private void rewriteTable() {
        apply(tableScript(lockout.bans()), "rewrite table");
    }

    private void apply(String script, String what) {
        String problem = run(script);
        if (problem == null) {
            if (failing) {
                failing = false;
                audit(audit, AuditEvent.of("gateway", "nftables").put("result", "ok").put("action", what));
                notices.accept("enclave gateway: nftables bans work again (table inet " + TABLE + " rewritten)");
            }
            return;
        }
        report(problem, what);
    }

    private void report(String problem, String what) {
        audit(audit, AuditEvent.of("gateway", "nftables").put("result", "failed").put("action", what).put("reason", problem));
        if (!failing) {
            notices.accept("enclave gateway: " + problem + "; the gateway itself still refuses banned sources");
        }
        failing = true;
    }

    /**
     * The whole table, made afresh: a table left by an earlier run is deleted in the same
     * transaction (adding it first makes the delete safe when there is none).
     */
    String tableScript(List<LockoutTracker.Ban> active) {
        StringBuilder s = new StringBuilder();
        s.append("table inet ").append(TABLE).append('\n');
        s.append("delete table inet ").append(TABLE).append('\n');
        s.append("table inet ").append(TABLE).append(" {\n");
        s.append("  set bans4 { type ipv4_addr; flags timeout; }\n");
        s.append("  set bans6 { type ipv6_addr; flags interval, timeout; }\n");
        s.append("  chain input {\n");
        s.append("    type filter hook input priority filter - 5; policy accept;\n");
        for (InetSocketAddress l : listeners) {
            int port = l.getPort();
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
            }
            InetAddress at = l.getAddress();
            if (at == null || at.isAnyLocalAddress()) {
                s.append("    tcp dport ").append(port).append(" ip saddr @bans4 counter drop\n");
                s.append("    tcp dport ").append(port).append(" ip6 saddr @bans6 counter drop\n");
            } else if (at instanceof Inet4Address) {
                s.append("    ip daddr ").append(at.getHostAddress()).append(" tcp dport ").append(port)
                        .append(" ip saddr @bans4 counter drop\n");
            } else {
                s.append("    ip6 daddr ").append(withoutScope(at)).append(" tcp dport ").append(port)
                        .append(" ip6 saddr @bans6 counter drop\n");
            }
        }
        s.append("  }\n}\n");
        Instant now = clock.instant();
        longBans.clear();
        longBansPushedAt = now;
        for (LockoutTracker.Ban b : active) {
            Element e = element(b.source());
            if (e != null && b.until().isAfter(now)) {
                add(s, b.source(), e, b.until(), now);
            }
        }
        return s.toString();
    }

    private void add(StringBuilder script, String source, Element e, Instant until, Instant now) {
        Duration left = Duration.between(now, until);
        if (left.compareTo(MAX_TIMEOUT) > 0) {
            left = MAX_TIMEOUT;
            if (longBans.isEmpty()) {
                longBansPushedAt = now;
            }
            longBans.put(source, until);
        }
        script.append("add element inet ").append(TABLE).append(' ').append(e.set()).append(" { ").append(e.text())
                .append(" timeout ").append(timeout(left)).append(" }\n");
    }

    /** Deletes the element if it is there: adding it first makes the delete safe when it is not. */
    private static void forget(StringBuilder script, Element e) {
        for (String verb : List.of("add", "delete")) {
            script.append(verb).append(" element inet ").append(TABLE).append(' ').append(e.set()).append(" { ")
                    .append(e.text()).append(" }\n");
        }
    }

    /**
     * A source as {@link LockoutTracker#sourceKey} writes it, or null when it is not one (a
     * hand-edited bans file); that is audited and printed once per source, and the gateway still
     * refuses nothing it would not refuse anyway (its lookups use the same keys).
     */
    private Element element(String source) {
        Element e = parse(source);
        if (e == null) {
            boolean first;
            synchronized (reportedSources) {
                first = reportedSources.size() < 1000 && reportedSources.add(source);
            }
            if (first) {
                String problem = "bans file: \"" + printable(source) + "\" is not an IPv4 address or an IPv6 /64, "
                        + "so it is left out of the kernel set; 'enclave bans unban' or an edit removes it";
                audit(audit, AuditEvent.of("gateway", "nftables").put("result", "skipped").put("reason", problem));
                notices.accept("enclave gateway: " + problem);
            }
        }
        return e;
    }

    /**
     * An IPv4 address goes to {@code bans4}, an IPv6 /64 to {@code bans6} (host bits cleared);
     * anything else is null. The text is printed from the parsed bytes, never copied from input.
     */
    static Element parse(String source) {
        boolean prefix = source.endsWith("/64");
        byte[] b = IpLiteral.parse(prefix ? source.substring(0, source.length() - 3) : source);
        if (b == null || (b.length == 4) == prefix) {
            return null; // an IPv4 address with /64, or an IPv6 address without: not a tracker key
        }
        if (b.length == 16) {
            for (int i = 8; i < 16; i++) {
                b[i] = 0;
            }
        }
        try {
            InetAddress a = InetAddress.getByAddress(b);
            return b.length == 4 ? new Element("bans4", a.getHostAddress()) : new Element("bans6", a.getHostAddress() + "/64");
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** nft's duration syntax, e.g. {@code 59m59s120ms} (nft takes each unit only up to a bound, so split). */
    static String timeout(Duration d) {
        long ms = Math.max(1, d.toMillis());
        StringBuilder s = new StringBuilder();
        long[] units = {86_400_000L, 3_600_000L, 60_000L, 1000L, 1L};
        String[] names = {"d", "h", "m", "s", "ms"};
        for (int i = 0; i < units.length; i++) {
            long n = ms / units[i];
            ms %= units[i];
            if (n > 0) {
                s.append(n).append(names[i]);
            }
        }
        return s.toString();
    }

    private static String withoutScope(InetAddress a) {
        String t = a.getHostAddress();
        int pct = t.indexOf('%');
        return pct < 0 ? t : t.substring(0, pct);
    }

    private static String printable(String s) {
        String t = s.length() > 60 ? s.substring(0, 60) + "…" : s;
        return t.replaceAll("[^\\x21-\\x7e]", "?");
    }

    /**
     * Runs {@code nft -f -} with {@code script} on standard input; null when it succeeded, else one
     * line naming the cause and the fix.
     */
    String run(String script) {
        List<String> cmd = new ArrayList<>(nft);
        cmd.add("-f");
        cmd.add("-");
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return nft.get(0).endsWith("nft") && String.valueOf(e.getMessage()).contains("error=2,")
                    ? "nft not found: apt install nftables, or drop --ban-nftables"
                    : "cannot run " + String.join(" ", nft) + " (" + e.getMessage() + "); install nftables, or drop --ban-nftables";
        }
        String out;
        try {
            try (OutputStream in = p.getOutputStream()) {
                in.write(script.getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                // nft stopped reading: its output says why
            }
            try (InputStream o = p.getInputStream()) {
                out = new String(o.readNBytes(16 * 1024), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(NFT_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "nft did not finish within " + NFT_TIMEOUT_SECONDS + " s; check 'nft list ruleset' by hand";
            }
        } catch (IOException e) {
            p.destroyForcibly();
            return "nft failed (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            return "nft interrupted";
        }
        if (p.exitValue() == 0) {
            return null;
        }
        if (out.contains("Operation not permitted")) {
            return "nft not permitted (Operation not permitted): run the gateway as root or with CAP_NET_ADMIN, "
                    + "or drop --ban-nftables";
        }
        return "nft failed: " + firstError(out);
    }

    /** nft's first error without its "/dev/stdin:3:1-20:" location, and the script line it points at. */
    private static String firstError(String out) {
        String[] lines = out.split("\n");
        for (int i = 0; i < lines.length; i++) {
            int at = lines[i].indexOf("Error: ");
            if (at >= 0) {
                String msg = lines[i].substring(at + 7).strip();
                return i + 1 < lines.length && !lines[i + 1].isBlank() ? msg + " (at: " + lines[i + 1].strip() + ")" : msg;
            }
        }
        String s = out.strip();
        return s.isEmpty() ? "exit status without a message" : printable(s.lines().findFirst().orElse(s));
    }

    private static void audit(AuditLog audit, AuditEvent e) {
        if (audit != null) {
            audit.write(e);
        }
    }

    /**
     * Stops following the tracker and deletes the table (the bans stay in the bans file and are
     * loaded again at the next start). Waits for the deletion, at most a few seconds.
     */
    @Override
    public void close() {
        lockout.listen(null);
        synchronized (pending) {
            if (!running) {
                return;
            }
            running = false;
            pending.clear();
        }
        worker.shutdown(); // queued writes still run, then the deletion below
        try {
            worker.awaitTermination(NFT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        String problem = run("table inet " + TABLE + "\ndelete table inet " + TABLE + "\n");
        audit(audit, AuditEvent.of("gateway", "nftables").put("result", problem == null ? "ok" : "failed")
                .put("action", "delete").put("table", "inet " + TABLE).put("reason", problem));
        if (problem != null) {
            notices.accept("enclave gateway: could not delete table inet " + TABLE + ": " + problem
                    + "; delete it by hand with: nft delete table inet " + TABLE);
        }
    }
}
