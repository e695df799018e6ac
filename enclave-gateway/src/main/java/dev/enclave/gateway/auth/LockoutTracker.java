package dev.enclave.gateway.auth;

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
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The fail2ban equivalent. Failed logins are counted per source and per user name within a sliding
 * window; when either count reaches {@code maxFailures}, the failing source is banned for
 * {@code ban}. A banned source is to be refused before any password work. Bans are written to
 * {@code bans} in the state directory (atomically, mode 0600) and read back at start, so a restart
 * does not forgive anyone; expired bans are dropped when read. A change another process makes to
 * the file ({@code enclave bans unban}) is picked up within a second.
 *
 * <p>IPv6 sources are counted and banned per /64 (one host's usual allocation), so rotating through
 * its own addresses does not reset a counter. Failure counters are bounded
 * ({@value #MAX_TRACKED} keys, oldest dropped first) so a flood of sources cannot exhaust memory;
 * user names are counted under a keyed hash of fixed size (a key made at start, so the counters
 * hold no names and a long name costs no more memory than a short one).
 * Thread-safe; every method is short.
 */
public final class LockoutTracker {
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

    private final int maxFailures;
    private final Duration window;
    private final Duration banLength;
    private final Clock clock;
    private final Path file;
    private final Map<String, Deque<Instant>> bySource = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<String, Deque<Instant>> byUser = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<String, Instant> bans = new LinkedHashMap<>();
    private Object fileVersion;
    private long fileCheckedAt = System.nanoTime();
    private BanListener listener = NO_LISTENER;
    /** Used under the tracker's lock only (a Mac is not thread-safe). */
    private final Mac userKeys;

    private LockoutTracker(int maxFailures, Duration window, Duration banLength, Clock clock, Path file) {
        this.maxFailures = maxFailures;
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
        LockoutTracker t = new LockoutTracker(maxFailures, window, ban, clock, stateDir.resolve("bans"));
        t.bans.putAll(read(t.file, clock.instant()));
        t.fileVersion = version(t.file);
        return t;
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
     * Counts a failed login; returns the new ban's end when this failure bans the source.
     *
     * @throws IOException when a new ban cannot be saved (the ban still holds in memory)
     */
    public synchronized Optional<Instant> recordFailure(InetAddress source, String user) throws IOException {
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
        bans.put(key, until);
        bySource.remove(key);
        listener.banned(new Ban(key, until));
        save();
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

    /** Lifts the ban on {@code sourceKey} (as {@link #bans} lists it); false when there was none. */
    public synchronized boolean unban(String sourceKey) throws IOException {
        refreshFromDisk();
        if (bans.remove(sourceKey) == null) {
            return false;
        }
        listener.unbanned(sourceKey);
        save();
        return true;
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
        if (now - fileCheckedAt < 1_000_000_000L) {
            return;
        }
        fileCheckedAt = now;
        try {
            Object v = version(file);
            if (!v.equals(fileVersion)) {
                Instant at = clock.instant();
                Map<String, Instant> fresh = read(file, at);
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

    private void save() throws IOException {
        StringBuilder b = new StringBuilder("# Enclave gateway bans: source until (ISO-8601). 'enclave bans unban' lifts one.\n");
        Instant now = clock.instant();
        bans.forEach((k, v) -> {
            if (v.isAfter(now)) {
                b.append(k).append(' ').append(v).append('\n');
            }
        });
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, ".bans.", ".tmp", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rw-------")));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(StandardCharsets.UTF_8.encode(b.toString()));
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            fileVersion = version(file); // our own write is not news
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
