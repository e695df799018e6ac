package dev.enclave.gateway.session;

import dev.enclave.gateway.auth.UserFileException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Browser sessions behind the login form, kept on the server so that logging out, a password
 * change or deleting the user ends them at once, whatever the browser still holds.
 *
 * <p>A session is found by its token: 32 random bytes (base64url) that only the browser holds, in
 * its cookie. The store keeps only the token's SHA-256, in memory and in {@code STATE/sessions},
 * so neither a heap dump nor the file lets anyone act as a user; and a lookup by hash leaks nothing
 * through timing that would help to guess a token. A session is valid while all of these hold:
 * <ol>
 *   <li>it was last seen less than {@code idle} ago (default 8 h);</li>
 *   <li>it was created less than {@code absolute} ago (default 24 h), however busy;</li>
 *   <li>its credential stamp, an HMAC of the user's credential at login (for a users file: the
 *       stored password hash) under a key from {@code STATE/session-key}, still matches the user's
 *       credential now. {@code enclave users passwd} or {@code del} change or remove it, and so end
 *       every session of that user. The stamp also means a line added to the file by hand is no
 *       session without the key.</li>
 *   <li>its user's sessions were not revoked after it was created ({@code enclave sessions revoke
 *       USER}, which appends to {@code STATE/sessions-revoked}; a running store reads that file
 *       again within a second of a change). This also ends the sessions of a PAM user whose
 *       password changed when the gateway cannot read {@code /etc/shadow}.</li>
 * </ol>
 *
 * <p>Persistence: logins and logouts are written soon after (on the store's own thread, never on
 * the caller's), atomically (temporary file, fsync, rename) with mode 0600. A request does not
 * write: it moves the session's last-seen time in memory, and only when that moves by
 * {@link #touchGranularity} or more; last-seen times reach the file once a minute and at close.
 * After a crash a session may therefore look up to about two minutes older than it was (it may end
 * that much early), never younger. The file is read strictly at start: a line that is not a
 * session stops the gateway with the file, the line and the fix, rather than dropping sessions or
 * keeping ones it cannot check.
 *
 * <p>Bounds: at most {@code maxPerUser} sessions per user and {@code maxTotal} in all; a new login
 * beyond either ends the least recently used one (of that user, then of anyone). Sessions are
 * made only after a password check, so a flood costs the flooder a correct password each time.
 * Thread-safe.
 */
public final class SessionStore implements AutoCloseable {
    /** Timeouts and bounds. */
    public record Limits(Duration idle, Duration absolute, int maxPerUser, int maxTotal) {
        public static final int MAX_PER_USER = 16;
        public static final int MAX_TOTAL = 10_000;

        public Limits {
            if (idle.isNegative() || idle.isZero() || absolute.compareTo(idle) < 0) {
                throw new IllegalArgumentException("session timeouts idle " + idle + ", absolute " + absolute
                        + " (expected: 0 < idle <= absolute)");
            }
            if (maxPerUser < 1 || maxTotal < maxPerUser) {
                throw new IllegalArgumentException("session bounds " + maxPerUser + " per user, " + maxTotal
                        + " in all (expected: 1 <= per user <= in all)");
            }
        }

        public static Limits of(Duration idle, Duration absolute) {
            return new Limits(idle, absolute, MAX_PER_USER, MAX_TOTAL);
        }
    }

    /** Where a session's credential comes from. */
    @FunctionalInterface
    public interface Credentials {
        /**
         * The user's current credential (for a users file, the stored hash), or empty when the user
         * no longer exists. An exception (users file unreadable) makes the session unusable for now,
         * but keeps it.
         */
        Optional<String> current(String user) throws UserFileException, IOException;
    }

    static final Duration FLUSH_EVERY = Duration.ofMinutes(1);
    private static final Pattern TOKEN = Pattern.compile("[A-Za-z0-9_-]{43}");
    private static final Pattern ID = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern STAMP = Pattern.compile("[A-Za-z0-9_-]{43}");
    /** Printable ASCII without spaces: the file's fields are separated by one space. */
    private static final Pattern USER = Pattern.compile("[\\x21-\\x7e]{1,128}");
    private static final String HEADER = "# Enclave gateway sessions: sha256-of-token user created last-seen credential-stamp.\n"
            + "# Delete this file (gateway stopped) to end every browser session.\n";

    /** One session. {@code lastSeen} moves; the rest is fixed at login. */
    private static final class Entry {
        final String user;
        final Instant created;
        final String stamp;
        volatile Instant lastSeen;
        /** The credential object last found to match the stamp: the same object again needs no HMAC. */
        volatile String checkedCredential;

        Entry(String user, Instant created, Instant lastSeen, String stamp) {
            this.user = user;
            this.created = created;
            this.lastSeen = lastSeen;
            this.stamp = stamp;
        }
    }

    private final Path file;
    private final Limits limits;
    private final Duration touchGranularity;
    private final Credentials credentials;
    private final Clock clock;
    private final Hmac stamps;
    private final CsrfTokens csrf;
    private final Consumer<IOException> onSaveError;
    private final SecureRandom random = new SecureRandom();
    private final Map<String, Entry> sessions = new ConcurrentHashMap<>();
    private final AtomicBoolean saveQueued = new AtomicBoolean();
    private final Object saveLock = new Object();
    private volatile boolean dirty;
    private ScheduledExecutorService writer;
    /** {@code STATE/sessions-revoked}: user, and the time before which the user's sessions end. */
    private final Path revokedFile;
    private volatile Map<String, Instant> revokedBefore = Map.of();
    private Object revokedVersion;
    private volatile long revokedCheckedAt;
    private final Object revokedLock = new Object();

    private SessionStore(Path file, Limits limits, Credentials credentials, Clock clock, SessionSecret secret,
                         Consumer<IOException> onSaveError) {
        this.file = file;
        this.revokedFile = file.resolveSibling(REVOKED_FILE);
        this.limits = limits;
        // Fine enough for the idle timeout, coarse enough that a busy session is not dirty per request.
        Duration tenth = limits.idle().dividedBy(10);
        this.touchGranularity = tenth.compareTo(Duration.ofMinutes(1)) < 0 ? tenth : Duration.ofMinutes(1);
        this.credentials = credentials;
        this.clock = clock;
        this.stamps = secret.derive("enclave session credential stamp v1");
        this.csrf = new CsrfTokens(secret.derive("enclave login csrf v1"));
        this.onSaveError = onSaveError;
    }

    /**
     * Opens the sessions in {@code stateDir/sessions}, with the key in {@code stateDir/session-key}
     * (made when missing).
     *
     * @param onSaveError told when a later write of the file fails (sessions keep working in memory)
     * @throws UserFileException when either file exists but is not what the gateway wrote, or others
     *                           may read or write it; the message names the file, line and fix
     */
    public static SessionStore open(Path stateDir, Limits limits, Credentials credentials, Clock clock,
                                    Consumer<IOException> onSaveError) throws UserFileException, IOException {
        SessionSecret secret = SessionSecret.open(stateDir.resolve("session-key"));
        SessionStore s = new SessionStore(stateDir.resolve("sessions"), limits, credentials, clock, secret, onSaveError);
        s.refreshRevocations(true);
        s.load();
        s.writer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "enclave-sessions");
            t.setDaemon(true);
            return t;
        });
        long every = FLUSH_EVERY.toMillis();
        s.writer.scheduleWithFixedDelay(s::saveIfDirty, every, every, TimeUnit.MILLISECONDS);
        return s;
    }

    /** CSRF tokens for the login form, under a key derived from the same secret. */
    public CsrfTokens csrf() {
        return csrf;
    }

    /** A new session for {@code user}, bound to {@code credential}; returns its token, which is not kept. */
    public String create(String user, String credential) {
        if (!USER.matcher(user).matches()) {
            throw new IllegalArgumentException("user name \"" + user + "\" cannot hold a session (printable ASCII, no spaces, at most 128)");
        }
        byte[] raw = new byte[32];
        random.nextBytes(raw);
        String token = Hmac.B64URL.encodeToString(raw);
        Instant now = clock.instant();
        Entry fresh = new Entry(user, now, now, stamps.of(credential));
        fresh.checkedCredential = credential;
        synchronized (this) {
            sessions.values().removeIf(e -> expired(e, now));
            makeRoomFor(user);
            sessions.put(idOf(token), fresh);
        }
        dirty = true;
        saveSoon();
        return token;
    }

    /**
     * The valid session {@code token} opens, or empty. An expired or revoked session is forgotten
     * here. Marks the session seen (in memory, coarsely).
     */
    public Optional<Session> find(String token) {
        return lookup(token, true);
    }

    /**
     * True while {@code token} opens a valid session, like {@link #find}, but without marking it
     * seen: for a check made on the gateway's own account (an open WebSocket looked at every few
     * seconds), which must not keep an idle session alive.
     */
    public boolean stillValid(String token) {
        return lookup(token, false).isPresent();
    }

    private Optional<Session> lookup(String token, boolean touch) {
        if (token == null || !TOKEN.matcher(token).matches()) {
            return Optional.empty();
        }
        String id = idOf(token);
        Entry e = sessions.get(id);
        if (e == null) {
            return Optional.empty();
        }
        Instant now = clock.instant();
        refreshRevocations(false);
        if (expired(e, now) || revoked(e)) {
            forget(id, e);
            return Optional.empty();
        }
        Optional<String> credential;
        try {
            credential = credentials.current(e.user);
        } catch (UserFileException | IOException unreadable) {
            return Optional.empty(); // fail closed until the users file can be read again
        }
        if (credential.isEmpty() || !stampMatches(e, credential.get())) {
            forget(id, e);
            return Optional.empty();
        }
        if (touch && Duration.between(e.lastSeen, now).compareTo(touchGranularity) >= 0) {
            e.lastSeen = now;
            dirty = true;
        }
        return Optional.of(new Session(e.user, e.created, e.lastSeen));
    }

    /** Ends the session {@code token} opens; returns its user, or empty when there was none. */
    public Optional<String> revoke(String token) {
        if (token == null || !TOKEN.matcher(token).matches()) {
            return Optional.empty();
        }
        Entry e = sessions.remove(idOf(token));
        if (e == null) {
            return Optional.empty();
        }
        dirty = true;
        saveSoon();
        return Optional.of(e.user);
    }

    /** How many sessions are held (valid or not yet found expired). */
    public int size() {
        return sessions.size();
    }

    /** How much a session's last-seen time must move before it is recorded. */
    Duration touchGranularity() {
        return touchGranularity;
    }

    /** Writes the file now if anything changed since the last write. */
    public void flush() throws IOException {
        synchronized (saveLock) { // waits for a write under way, so the file is current on return
            if (dirty) {
                save();
            }
        }
    }

    /** Stops the background writer and writes what is left. */
    @Override
    public void close() {
        if (writer != null) {
            writer.shutdown();
            try {
                writer.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            flush();
        } catch (IOException e) {
            onSaveError.accept(e);
        }
    }

    // ---- validity -------------------------------------------------------------------------------

    private boolean expired(Entry e, Instant now) {
        return !now.isBefore(e.lastSeen.plus(limits.idle())) || !now.isBefore(e.created.plus(limits.absolute()));
    }

    private boolean revoked(Entry e) {
        Instant before = revokedBefore.get(e.user);
        return before != null && !e.created.isAfter(before);
    }

    /**
     * Reads {@code sessions-revoked} again when it changed (looked at most once a second unless
     * {@code now}). An unreadable file keeps the revocations known so far.
     */
    private void refreshRevocations(boolean now) {
        long t = System.nanoTime();
        if (!now && t - revokedCheckedAt < 1_000_000_000L) {
            return;
        }
        synchronized (revokedLock) {
            if (!now && t - revokedCheckedAt < 1_000_000_000L) {
                return;
            }
            revokedCheckedAt = t;
            try {
                Object v = fileVersion(revokedFile);
                if (!v.equals(revokedVersion)) {
                    revokedBefore = readRevocations(revokedFile);
                    revokedVersion = v;
                }
            } catch (IOException | RuntimeException unreadable) {
                // keep what we know; the next look tries again
            }
        }
    }

    private static Object fileVersion(Path f) throws IOException {
        try {
            var a = Files.readAttributes(f, java.nio.file.attribute.BasicFileAttributes.class);
            return List.of(String.valueOf(a.fileKey()), a.lastModifiedTime(), a.size());
        } catch (NoSuchFileException e) {
            return "missing";
        }
    }

    static final String REVOKED_FILE = "sessions-revoked";
    private static final String REVOKED_HEADER = "# Enclave gateway: user revoked-at. Sessions of the user created at or before "
            + "revoked-at have ended ('enclave sessions revoke USER').\n";

    private static Map<String, Instant> readRevocations(Path f) throws IOException {
        Map<String, Instant> out = new java.util.HashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return out;
        }
        for (String line : lines) {
            String[] p = line.split(" ");
            if (line.startsWith("#") || p.length != 2 || !USER.matcher(p[0]).matches()) {
                continue;
            }
            try {
                out.merge(p[0], Instant.parse(p[1]), (a, b) -> a.isAfter(b) ? a : b);
            } catch (DateTimeParseException bad) {
                // a line not written by the CLI: ignored
            }
        }
        return out;
    }

    /** One line of the sessions file, as {@code enclave sessions list} shows it. */
    public record Listed(String user, Instant created, Instant lastSeen) {
    }

    /**
     * The sessions in {@code stateDir}'s file that no revocation has ended (expired ones may be
     * among them: the limits are the gateway's). For the CLI; the key is not needed.
     */
    public static List<Listed> list(Path stateDir) throws IOException {
        Map<String, Instant> revoked = readRevocations(stateDir.resolve(REVOKED_FILE));
        List<Listed> out = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(stateDir.resolve("sessions"), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return out;
        }
        for (String line : lines) {
            String[] f = line.split(" ", -1);
            if (line.startsWith("#") || f.length != 5 || !USER.matcher(f[1]).matches()) {
                continue;
            }
            try {
                Listed l = new Listed(f[1], Instant.parse(f[2]), Instant.parse(f[3]));
                Instant before = revoked.get(l.user());
                if (before == null || l.created().isAfter(before)) {
                    out.add(l);
                }
            } catch (DateTimeParseException bad) {
                // the gateway refuses such a file at start; listing shows what it can
            }
        }
        return out;
    }

    /**
     * Ends every session of {@code user} created at or before {@code at}: appends to
     * {@code stateDir/sessions-revoked} (atomically, mode 0600). A running gateway notices within a
     * second, a stopped one at start.
     */
    public static void revokeUser(Path stateDir, String user, Instant at) throws IOException {
        if (!USER.matcher(user).matches()) {
            throw new IllegalArgumentException("\"" + user + "\" is no user name a session can have (printable ASCII, no spaces, at most 128)");
        }
        Path f = stateDir.resolve(REVOKED_FILE);
        Map<String, Instant> all = readRevocations(f);
        all.merge(user, at, (a, b) -> a.isAfter(b) ? a : b);
        StringBuilder b = new StringBuilder(REVOKED_HEADER);
        all.forEach((u, t) -> b.append(u).append(' ').append(t).append('\n'));
        writeAtomically(f, ".sessions-revoked.", b.toString());
    }

    private static void writeAtomically(Path target, String tmpPrefix, String text) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, tmpPrefix, ".tmp", PosixFilePermissions.asFileAttribute(SessionSecret.OWNER_ONLY));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(StandardCharsets.UTF_8.encode(text));
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true); // the rename itself survives a power cut
            } catch (IOException notSupported) {
                // some file systems cannot sync a directory; the rename is still atomic
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private boolean stampMatches(Entry e, String credential) {
        if (credential == e.checkedCredential) {
            return true; // the same immutable object as last time: the HMAC would say the same
        }
        boolean ok = MessageDigest.isEqual(stamps.of(credential).getBytes(StandardCharsets.US_ASCII),
                e.stamp.getBytes(StandardCharsets.US_ASCII));
        if (ok) {
            e.checkedCredential = credential;
        }
        return ok;
    }

    private void forget(String id, Entry e) {
        // Not written at once: a line left in the file is expired or revoked when read back too.
        if (sessions.remove(id, e)) {
            dirty = true;
        }
    }

    /** Called with the store's lock held. */
    private void makeRoomFor(String user) {
        List<Map.Entry<String, Entry>> mine = new ArrayList<>();
        for (Map.Entry<String, Entry> m : sessions.entrySet()) {
            if (m.getValue().user.equals(user)) {
                mine.add(m);
            }
        }
        evictLeastRecentlyUsed(mine, mine.size() - limits.maxPerUser() + 1);
        if (sessions.size() >= limits.maxTotal()) {
            evictLeastRecentlyUsed(new ArrayList<>(sessions.entrySet()), sessions.size() - limits.maxTotal() + 1);
        }
    }

    private void evictLeastRecentlyUsed(List<Map.Entry<String, Entry>> candidates, int count) {
        if (count <= 0) {
            return;
        }
        candidates.sort(Comparator.comparing((Map.Entry<String, Entry> m) -> m.getValue().lastSeen)
                .thenComparing(m -> m.getValue().created));
        for (int i = 0; i < count && i < candidates.size(); i++) {
            sessions.remove(candidates.get(i).getKey());
        }
    }

    static String idOf(String token) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    // ---- the file -------------------------------------------------------------------------------

    private void saveSoon() {
        if (writer == null || !saveQueued.compareAndSet(false, true)) {
            return;
        }
        try {
            writer.execute(() -> {
                saveQueued.set(false);
                saveIfDirty();
            });
        } catch (RejectedExecutionException closing) {
            saveQueued.set(false); // close() writes the file last
        }
    }

    private void saveIfDirty() {
        try {
            flush();
        } catch (IOException e) {
            onSaveError.accept(e);
        }
    }

    private void save() throws IOException {
        synchronized (saveLock) {
            dirty = false; // a change from now on marks it again and is written next time
            Instant now = clock.instant();
            StringBuilder b = new StringBuilder(HEADER);
            sessions.forEach((id, e) -> {
                if (!expired(e, now)) {
                    b.append(id).append(' ').append(e.user).append(' ').append(e.created).append(' ')
                            .append(e.lastSeen).append(' ').append(e.stamp).append('\n');
                }
            });
            Path dir = file.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, ".sessions.", ".tmp", PosixFilePermissions.asFileAttribute(SessionSecret.OWNER_ONLY));
            try {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    ch.write(StandardCharsets.UTF_8.encode(b.toString()));
                    ch.force(true);
                }
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                    d.force(true); // the rename itself survives a power cut
                } catch (IOException notSupported) {
                    // some file systems cannot sync a directory; the rename is still atomic
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    private void load() throws UserFileException, IOException {
        List<String> lines;
        try {
            SessionSecret.checkOwnerOnly(file);
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return;
        }
        Instant now = clock.instant();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split(" ", -1);
            Entry e;
            try {
                if (f.length != 5 || !ID.matcher(f[0]).matches() || !USER.matcher(f[1]).matches()
                        || !STAMP.matcher(f[4]).matches()) {
                    throw new IllegalArgumentException();
                }
                e = new Entry(f[1], Instant.parse(f[2]), Instant.parse(f[3]), f[4]);
                if (e.lastSeen.isBefore(e.created) || sessions.containsKey(f[0])) {
                    throw new IllegalArgumentException();
                }
            } catch (IllegalArgumentException | DateTimeParseException bad) {
                sessions.clear();
                throw new UserFileException(file + ":" + (i + 1) + ": not a session line (sha256-of-token user created "
                        + "last-seen credential-stamp, each once); delete the file to end every browser session "
                        + "(users log in again), then start the gateway again");
            }
            if (!expired(e, now) && !revoked(e)) {
                sessions.put(f[0], e);
            }
        }
        if (sessions.size() > limits.maxTotal()) {
            evictLeastRecentlyUsed(new ArrayList<>(sessions.entrySet()), sessions.size() - limits.maxTotal());
        }
    }
}
