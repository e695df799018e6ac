package dev.enclave.gateway.auth;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The fail2ban equivalent. Failed logins are counted per source and per user name within a sliding
 * window; when either count reaches {@code maxFailures}, the failing source is banned for
 * {@code ban}. A banned source is to be refused before any password work. Bans are written to
 * {@code bans} in the state directory (atomically, mode 0600) and read back at start, so a restart
 * does not forgive anyone; expired bans are dropped when read. A change another process makes to
 * the file ({@code enclave bans unban}) is picked up within a second. The file is written (and
 * synced) on a background thread, never with the tracker's lock held: {@link #bannedUntil} runs
 * on the event loop for every new connection. Writes that queue up while one is under way are
 * made as one, from the state at that time.
 *
 * <p>At most {@code maxBans} ({@value #MAX_BANS} by default) bans are held: a new ban beyond that
 * still starts, and the ban that would end soonest is lifted early to make room and audited
 * ({@code ban_evicted}); a flood from that many sources has to keep failing to stay banned.
 *
 * <p>IPv6 sources are counted and banned per /64 (one host's usual allocation), so rotating through
 * its own addresses does not reset a counter. Failure counters are bounded
 * ({@value #MAX_TRACKED} keys, oldest dropped first) so a flood of sources cannot exhaust memory;
 * user names are counted under a keyed hash of fixed size (a key made at start, so the counters
 * hold no names and a long name costs no more memory than a short one).
 * Thread-safe; every method is short.
 */
public final class LockoutTracker implements AutoCloseable {
    /** A banned source (an IPv4 address or an IPv6 /64, in text) and when the ban ends. */
    public record Ban(String source, Instant until) {
    }

    /**
     * Told of every ban that starts or changes and every ban lifted before its time, whether by this
     * process or through the file ({@code enclave bans unban}). Bans that simply run out are not
     * reported: their end was known when they started. Called with the tracker's lock held, so an
     * implementation only takes note (queues work for another thread) and never calls back.
     */
    public interface BanListener {
        void banned(Ban ban);

        void unbanned(String source);
    }

    private static final BanListener NO_LISTENER = new BanListener() {
        @Override
        public void banned(Ban ban) {
        }

        @Override
        public void unbanned(String source) {
        }
    };

    static final int MAX_TRACKED = 100_000;
    static final int MAX_BANS = 100_000;

    private final int maxFailures;
    private final Duration window;
    private final Duration banLength;
    private final Clock clock;
    private final Path file;
    private final Map<String, Deque<Instant>> bySource = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<String, Deque<Instant>> byUser = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<String, Instant> bans = new LinkedHashMap<>();
    private final int maxBans;
    private Object fileVersion;
    /** True while the writer writes the file outside the lock: a change seen then is our own. */
    private boolean writing;
    /** The write not yet started (later changes join it), and the last one asked for. */
    private CompletableFuture<Void> queuedWrite;
    private CompletableFuture<Void> lastWrite = CompletableFuture.completedFuture(null);
    private final ThreadPoolExecutor writer;
    private volatile AuditLog audit;
    /** For tests: runs on the writer thread just before the file is written. */
    volatile Runnable beforeWrite = () -> { };
    private long fileCheckedAt = System.nanoTime();
    private BanListener listener = NO_LISTENER;
    /** Used under the tracker's lock only (a Mac is not thread-safe). */
    private final Mac userKeys;

    private LockoutTracker(int maxFailures, Duration window, Duration banLength, Clock clock, Path file, int maxBans) {
        this.maxFailures = maxFailures;
        this.maxBans = maxBans;
        // One thread, started when there is something to write and gone a second after.
        this.writer = new ThreadPoolExecutor(0, 1, 1, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "enclave-bans-writer");
            t.setDaemon(true);
            return t;
        });
        this.window = window;
        this.banLength = banLength;
        this.clock = clock;
        this.file = file;
        try {
            byte[] key = new byte[32];
            new SecureRandom().nextBytes(key);
            userKeys = Mac.getInstance("HmacSHA256");
            userKeys.init(new SecretKeySpec(key, "HmacSHA256"));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }

    /**
     * Opens the tracker whose bans live in {@code stateDir/bans}.
     *
     * @throws UserFileException when the bans file exists but cannot be read as bans (fail closed:
     *                           the gateway does not start with bans it cannot see)
     */
    public static LockoutTracker open(Path stateDir, int maxFailures, Duration window, Duration ban, Clock clock)
            throws UserFileException, IOException {
        return open(stateDir, maxFailures, window, ban, clock, MAX_BANS);
    }

    static LockoutTracker open(Path stateDir, int maxFailures, Duration window, Duration ban, Clock clock, int maxBans)
            throws UserFileException, IOException {
        LockoutTracker t = new LockoutTracker(maxFailures, window, ban, clock, stateDir.resolve("bans"), maxBans);
        t.bans.putAll(t.bounded(read(t.file, clock.instant())));
        t.fileVersion = version(t.file);
        return t;
    }

    /** Where evicted bans and failed writes of the bans file are reported (null: nowhere). */
    public void auditTo(AuditLog audit) {
        this.audit = audit;
    }

    /**
     * Makes {@code l} the one listener (null: none) and returns the bans in force at that moment, so
     * the listener starts from them and misses no change after.
     */
    public synchronized List<Ban> listen(BanListener l) {
        listener = l == null ? NO_LISTENER : l;
        return bans();
    }

    /**
     * Reads the bans file now if another process changed it (reporting what changed to the
     * listener). Lookups do this by themselves at most once a second; this is for a caller that
     * must see an unban even while no client comes.
     */
    public synchronized void refresh() {
        fileCheckedAt = System.nanoTime() - 1_000_000_000L;
        refreshFromDisk();
    }

    /** The key a source is counted and banned under: the IPv4 address, or the IPv6 /64. */
    public static String sourceKey(InetAddress address) {
        if (address instanceof Inet6Address) {
            byte[] b = address.getAddress();
            for (int i = 8; i < 16; i++) {
                b[i] = 0;
            }
            try {
                return InetAddress.getByAddress(b).getHostAddress() + "/64";
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        }
        return address.getHostAddress();
    }

    /** When the ban on {@code source} ends, or empty when it is not banned. */
    public synchronized Optional<Instant> bannedUntil(InetAddress source) {
        refreshFromDisk();
        String key = sourceKey(source);
        Instant until = bans.get(key);
        if (until == null) {
            return Optional.empty();
        }
        if (!until.isAfter(clock.instant())) {
            bans.remove(key);
            return Optional.empty();
        }
        return Optional.of(until);
    }

    /**
     * Counts a failed login; returns the new ban's end when this failure bans the source. The ban
     * holds at once; the file is written soon after (a failed write is audited, the ban still
     * holds in memory).
     */
    public synchronized Optional<Instant> recordFailure(InetAddress source, String user) {
        refreshFromDisk();
        Instant now = clock.instant();
        String key = sourceKey(source);
        Instant current = bans.get(key);
        if (current != null && current.isAfter(now)) {
            return Optional.of(current); // banned while this guess was checked: the ban stands as it is
        }
        int perSource = count(bySource, key, now);
        int perUser = user == null || user.isEmpty() ? 0 : count(byUser, userKey(user), now);
        if (perSource < maxFailures && perUser < maxFailures) {
            return Optional.empty();
        }
        Instant until = now.plus(banLength);
        makeRoomForBan(key, now);
        bans.put(key, until);
        bySource.remove(key);
        listener.banned(new Ban(key, until));
        saveSoon();
        return Optional.of(until);
    }

    /** A successful login clears the source's failures (not the user's: others may be guessing it). */
    public synchronized void recordSuccess(InetAddress source) {
        bySource.remove(sourceKey(source));
    }

    /**
     * A right password, unless the source was banned meanwhile (a guess checked at the same time
     * failed): then the ban's end, and nothing is cleared. One step under the lock, so no success
     * slips in after a ban.
     */
    public synchronized Optional<Instant> recordSuccessUnlessBanned(InetAddress source) {
        Optional<Instant> banned = bannedUntil(source);
        if (banned.isEmpty()) {
            recordSuccess(source);
        }
        return banned;
    }

    public synchronized List<Ban> bans() {
        refreshFromDisk();
        Instant now = clock.instant();
        List<Ban> out = new ArrayList<>();
        bans.forEach((k, v) -> {
            if (v.isAfter(now)) {
                out.add(new Ban(k, v));
            }
        });
        return out;
    }

    /**
     * Lifts the ban on {@code sourceKey} (as {@link #bans} lists it); false when there was none.
     * Returns once the file says so.
     */
    public boolean unban(String sourceKey) throws IOException {
        CompletableFuture<Void> written;
        synchronized (this) {
            refreshFromDisk();
            if (bans.remove(sourceKey) == null) {
                return false;
            }
            listener.unbanned(sourceKey);
            written = saveSoon();
        }
        await(written);
        return true;
    }

    /** Waits until the file holds every change made so far. */
    public void flush() throws IOException {
        CompletableFuture<Void> last;
        synchronized (this) {
            last = lastWrite;
        }
        await(last);
    }

    /** Writes what is pending and stops the writer. */
    @Override
    public void close() {
        try {
            flush();
        } catch (IOException e) {
            // already audited by the writer
        }
        writer.shutdown();
    }

    private static void await(CompletableFuture<Void> write) throws IOException {
        try {
            write.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the bans file was written", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /**
     * Called with the lock held, before {@code key} is banned: when the bans are at their bound,
     * expired ones go first, then the one that would end soonest (audited, and told to the
     * listener as lifted).
     */
    private void makeRoomForBan(String key, Instant now) {
        if (bans.containsKey(key) || bans.size() < maxBans) {
            return;
        }
        bans.values().removeIf(until -> !until.isAfter(now));
        while (bans.size() >= maxBans) {
            Map.Entry<String, Instant> soonest = null;
            for (Map.Entry<String, Instant> e : bans.entrySet()) {
                if (soonest == null || e.getValue().isBefore(soonest.getValue())) {
                    soonest = e;
                }
            }
            bans.remove(soonest.getKey());
            listener.unbanned(soonest.getKey());
            AuditLog a = audit;
            if (a != null) {
                a.write(AuditEvent.of("gateway", "ban_evicted").put("source", soonest.getKey())
                        .put("until", soonest.getValue().toString()).put("for", key)
                        .put("reason", "at most " + maxBans + " bans are held; the one ending soonest made room"));
            }
        }
    }

    /** {@code read} bounded to the {@code maxBans} that end last. */
    private Map<String, Instant> bounded(Map<String, Instant> read) {
        if (read.size() <= maxBans) {
            return read;
        }
        List<Map.Entry<String, Instant>> all = new ArrayList<>(read.entrySet());
        all.sort(Map.Entry.comparingByValue());
        Map<String, Instant> out = new LinkedHashMap<>();
        for (Map.Entry<String, Instant> e : all.subList(all.size() - maxBans, all.size())) {
            out.put(e.getKey(), e.getValue());
        }
        return out;
    }

    /** The fixed-size key a user name is counted under: 128 bits of its HMAC-SHA256, in hex. */
    private String userKey(String user) {
        return HexFormat.of().formatHex(userKeys.doFinal(user.getBytes(StandardCharsets.UTF_8)), 0, 16);
    }

    /** The keys user names are counted under (for the test of their size). */
    synchronized List<String> trackedUserKeys() {
        return new ArrayList<>(byUser.keySet());
    }

    /** Sources with failures being counted (for the bound's test). */
    synchronized int trackedSources() {
        return bySource.size();
    }

    private int count(Map<String, Deque<Instant>> map, String key, Instant now) {
        Deque<Instant> times = map.computeIfAbsent(key, k -> new ArrayDeque<>());
        Instant cutoff = now.minus(window);
        while (!times.isEmpty() && !times.peekFirst().isAfter(cutoff)) {
            times.pollFirst();
        }
        times.addLast(now);
        while (times.size() > maxFailures) {
            times.pollFirst();
        }
        if (map.size() > MAX_TRACKED) {
            Iterator<String> oldest = map.keySet().iterator();
            oldest.next();
            oldest.remove();
        }
        return times.size();
    }

    /**
     * Another process ({@code enclave bans unban}) may have changed the file: read it again when
     * its identity changed, looking at most once a second. An unreadable file keeps the bans in
     * memory (fail closed) until it is fixed.
     */
    private void refreshFromDisk() {
        long now = System.nanoTime();
        if (writing || now - fileCheckedAt < 1_000_000_000L) {
            return; // while our own write is under way, the file is ours
        }
        fileCheckedAt = now;
        try {
            Object v = version(file);
            if (!v.equals(fileVersion)) {
                Instant at = clock.instant();
                Map<String, Instant> fresh = bounded(read(file, at));
                bans.forEach((k, until) -> {
                    if (!fresh.containsKey(k) && until.isAfter(at)) {
                        listener.unbanned(k);
                    }
                });
                fresh.forEach((k, until) -> {
                    if (!until.equals(bans.get(k))) {
                        listener.banned(new Ban(k, until));
                    }
                });
                bans.clear();
                bans.putAll(fresh);
                fileVersion = v;
            }
        } catch (UserFileException | IOException e) {
            // keep what we have
        }
    }

    private static Object version(Path file) throws IOException {
        try {
            var a = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
            return List.of(String.valueOf(a.fileKey()), a.lastModifiedTime(), a.size());
        } catch (NoSuchFileException e) {
            return "missing";
        }
    }

    /**
     * Called with the lock held: makes sure a write starts after this change. A write already
     * queued (not yet started) takes it too, so a burst of bans is one write.
     */
    private CompletableFuture<Void> saveSoon() {
        if (queuedWrite != null) {
            return queuedWrite;
        }
        CompletableFuture<Void> w = new CompletableFuture<>();
        queuedWrite = w;
        lastWrite = w;
        try {
            writer.execute(() -> write(w));
        } catch (RejectedExecutionException closed) {
            queuedWrite = null;
            w.completeExceptionally(new IOException("the gateway is stopping; the bans file was not written"));
        }
        return w;
    }

    /** On the writer thread: snapshot under the lock, write and sync outside it. */
    private void write(CompletableFuture<Void> w) {
        String text;
        synchronized (this) {
            if (queuedWrite == w) {
                queuedWrite = null; // changes from now on need another write
            }
            fileCheckedAt = System.nanoTime() - 1_000_000_000L;
            refreshFromDisk(); // an unban another process made is not overwritten
            text = render(clock.instant());
            writing = true;
        }
        try {
            beforeWrite.run();
            writeFile(text);
            w.complete(null);
        } catch (IOException | RuntimeException e) {
            AuditLog a = audit;
            if (a != null) {
                a.write(AuditEvent.of("gateway", "error").put("reason", "cannot save bans to " + file + ": " + e.getMessage()
                        + "; the bans hold in memory until the gateway stops"));
            }
            w.completeExceptionally(e);
        } finally {
            synchronized (this) {
                writing = false;
                try {
                    fileVersion = version(file); // our own write is not news
                } catch (IOException e) {
                    fileVersion = null;
                }
            }
        }
    }

    private String render(Instant now) {
        StringBuilder b = new StringBuilder("# Enclave gateway bans: source until (ISO-8601). 'enclave bans unban' lifts one.\n");
        bans.forEach((k, v) -> {
            if (v.isAfter(now)) {
                b.append(k).append(' ').append(v).append('\n');
            }
        });
        return b.toString();
    }

    private void writeFile(String text) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, ".bans.", ".tmp", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rw-------")));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(StandardCharsets.UTF_8.encode(text));
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static Map<String, Instant> read(Path file, Instant now) throws UserFileException, IOException {
        Map<String, Instant> out = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return out;
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] parts = line.split(" ");
            Instant until;
            try {
                if (parts.length != 2 || !parts[0].matches("[0-9a-fA-F.:]+(/64)?")) {
                    throw new IllegalArgumentException("not 'source until'");
                }
                until = Instant.parse(parts[1]);
            } catch (RuntimeException e) {
                throw new UserFileException(file + ":" + (i + 1) + ": not a ban line (source until); fix or remove "
                        + "the line, or delete the file to lift every ban");
            }
            if (until.isAfter(now)) {
                out.put(parts[0], until);
            }
        }
        return out;
    }
}
