package dev.enclave.gateway.auth;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Checks a user name and password against a {@link PasswordCheck} (the users file or PAM), in
 * this order:
 * <ol>
 *   <li>a banned source is refused at once, before any password work, and again when its check
 *       leaves the queue: guesses queued before the ban are not checked after it;</li>
 *   <li>credentials verified recently against the user's current {@linkplain PasswordCheck#cacheVersion
 *       cache version} are accepted from the {@link CredentialCache} (no hashing, no PAM);</li>
 *   <li>otherwise the check runs on {@code pool}, a bounded executor: when it is full the answer is
 *       {@link Outcome#BUSY} (the gateway answers 503), so a flood of guesses queues behind itself
 *       and cannot take every thread;</li>
 *   <li>the same credentials from the same source while they are being checked (an h2 client
 *       or a page opening many requests at once) share that one check instead of each taking a
 *       place on the pool;</li>
 *   <li>a refusal is counted by the {@link LockoutTracker} and may ban the source; one with a
 *       reason beyond "wrong password" (say, a Linux account outside the allowed group) is also
 *       audited with that reason; a success clears the source's failures, unless the source was
 *       banned while its password was being checked (by a guess on another thread): then it is
 *       refused as banned. The ban check and the counting take the tracker's lock, so once a
 *       failure bans a source no check of that source that ends later answers OK. At most
 *       {@code maxFailures + threads - 1} passwords of one source are checked per ban window:
 *       the banning failure's own thread aside, only checks already running on the other pool
 *       threads finish.</li>
 * </ol>
 */
public final class Authenticator {
    /** What the caller does next. */
    public enum Outcome { OK, BAD_CREDENTIALS, BANNED, BUSY }

    /** The longest user name checked at all (Linux allows 32, the sessions file 128). */
    public static final int MAX_USER_BYTES = 256;

    /**
     * {@code until} is set for {@link Outcome#BANNED}; {@code credential}, for {@link Outcome#OK},
     * is the credential version that was accepted (see {@link #stillHolds}), null when the check
     * has none.
     */
    public record Result(Outcome outcome, String user, Instant until, String credential) {
        Result(Outcome outcome, String user, Instant until) {
            this(outcome, user, until, null);
        }

        static Result of(Outcome o, String user) {
            return new Result(o, user, null);
        }

        static Result ok(String user, Optional<String> credential) {
            return new Result(Outcome.OK, user, null, credential.orElse(null));
        }
    }

    private final PasswordCheck check;
    private final LockoutTracker lockout;
    private final CredentialCache cache;
    private final Executor pool;
    private final AuditLog audit;
    private final ConcurrentHashMap<Attempt, CompletableFuture<Result>> inFlight = new ConcurrentHashMap<>();

    private record Attempt(InetAddress source, ByteBuffer credentials) {
    }

    /** Users-file logins; refusal reasons are not audited here. */
    public Authenticator(UsersFile users, PasswordHasher hasher, LockoutTracker lockout, CredentialCache cache,
                         Executor hashing) {
        this(new UsersFileCheck(users, hasher), lockout, cache, hashing, null);
    }

    /** {@code audit} (may be null) receives refusals that carry a reason of their own. */
    public Authenticator(PasswordCheck check, LockoutTracker lockout, CredentialCache cache, Executor pool, AuditLog audit) {
        this.check = check;
        this.lockout = lockout;
        this.cache = cache;
        this.pool = pool;
        this.audit = audit;
    }

    /**
     * What a browser session of {@code user} is bound to: the check's {@linkplain
     * PasswordCheck#cacheVersion cache version} (for the users file, the stored hash, which changes
     * whenever the password is set again and disappears with the user). Empty for an unknown user.
     */
    public Optional<String> credentialOf(String user) throws UserFileException, IOException {
        return check.cacheVersion(user);
    }

    /**
     * {@code user} as an audit line records it: unchanged up to {@value #MAX_USER_BYTES} bytes;
     * longer (never an account, and a Basic header may carry tens of KiB of it), its first 64
     * characters and its length, so one request cannot write a huge line.
     */
    public static String forAudit(String user) {
        if (user == null) {
            return null;
        }
        int bytes = user.getBytes(StandardCharsets.UTF_8).length;
        if (bytes <= MAX_USER_BYTES) {
            return user;
        }
        int cut = Character.isHighSurrogate(user.charAt(63)) ? 63 : 64;
        return user.substring(0, cut) + "...(" + bytes + " bytes)";
    }

    /**
     * True while {@code user}'s credential is still the one accepted as {@code credential} (from
     * {@link Result#credential}): false once the password was set again or the user removed, and
     * false while the users file cannot be read (fail closed). For a connection that outlives its
     * request (a WebSocket opened with Basic credentials), which no later request re-checks.
     */
    public boolean stillHolds(String user, String credential) {
        try {
            return check.cacheVersion(user).equals(Optional.ofNullable(credential));
        } catch (UserFileException | IOException unreadable) {
            return false;
        }
    }

    /**
     * Checks the credentials; {@code password} is wiped when the check is done. A user name longer
     * than {@value #MAX_USER_BYTES} bytes (UTF-8) is refused without any password work and counts
     * as a failure of the source.
     */
    public CompletableFuture<Result> authenticate(InetAddress source, String user, char[] password) {
        Optional<Instant> banned = lockout.bannedUntil(source);
        if (banned.isPresent()) {
            Arrays.fill(password, '\0');
            return CompletableFuture.completedFuture(new Result(Outcome.BANNED, user, banned.get()));
        }
        if (user.length() > MAX_USER_BYTES || user.getBytes(StandardCharsets.UTF_8).length > MAX_USER_BYTES) {
            Arrays.fill(password, '\0');
            Optional<Instant> ban = lockout.recordFailure(source, null); // no account has such a name
            return CompletableFuture.completedFuture(ban.map(until -> new Result(Outcome.BANNED, user, until))
                    .orElse(Result.of(Outcome.BAD_CREDENTIALS, user)));
        }
        Optional<String> version;
        try {
            version = check.cacheVersion(user);
        } catch (UserFileException | IOException e) {
            // Fail closed: without a readable users file nobody logs in.
            Arrays.fill(password, '\0');
            return CompletableFuture.failedFuture(e);
        }
        if (version.isPresent() && cache.isVerified(user, password, version.get())) {
            Arrays.fill(password, '\0');
            Optional<Instant> bannedMeanwhile = lockout.recordSuccessUnlessBanned(source);
            return CompletableFuture.completedFuture(bannedMeanwhile.isPresent()
                    ? new Result(Outcome.BANNED, user, bannedMeanwhile.get()) : Result.ok(user, version));
        }
        Attempt attempt = new Attempt(source, cache.keyFor(user, password));
        CompletableFuture<Result> out = new CompletableFuture<>();
        CompletableFuture<Result> running = inFlight.putIfAbsent(attempt, out);
        if (running != null) {
            Arrays.fill(password, '\0');
            return running;
        }
        out.whenComplete((r, e) -> inFlight.remove(attempt, out));
        try {
            pool.execute(() -> {
                try {
                    // The source may have been banned while this guess waited in the queue.
                    Optional<Instant> bannedNow = lockout.bannedUntil(source);
                    out.complete(bannedNow.isPresent() ? new Result(Outcome.BANNED, user, bannedNow.get())
                            : verify(source, user, password, version));
                } catch (Throwable t) {
                    out.completeExceptionally(t);
                } finally {
                    Arrays.fill(password, '\0');
                }
            });
        } catch (RejectedExecutionException e) {
            Arrays.fill(password, '\0');
            out.complete(Result.of(Outcome.BUSY, user));
        }
        return out;
    }

    private Result verify(InetAddress source, String user, char[] password, Optional<String> version) throws IOException {
        PasswordCheck.Verdict verdict = check.check(source, user, password, version);
        if (!verdict.accepted()) {
            if (verdict.reason() != null && audit != null) {
                audit.write(AuditEvent.of("gateway", "login_refused").put("user", user)
                        .put("source", source.getHostAddress()).put("check", check.kind()).put("reason", verdict.reason()));
            }
            Optional<Instant> ban = lockout.recordFailure(source, user);
            return ban.map(until -> new Result(Outcome.BANNED, user, until)).orElse(Result.of(Outcome.BAD_CREDENTIALS, user));
        }
        Optional<Instant> bannedMeanwhile = lockout.recordSuccessUnlessBanned(source);
        if (bannedMeanwhile.isPresent()) {
            return new Result(Outcome.BANNED, user, bannedMeanwhile.get()); // and not cached: the ban decides
        }
        version.ifPresent(v -> cache.remember(user, password, v));
        return Result.ok(user, version);
    }

    /**
     * The users file, read again when it changes on disk: its identity (updates replace the file,
     * so a new inode) or modification time is compared at most once a second.
     */
    public static final class UsersFile {
        private static final long CHECK_NANOS = 1_000_000_000L;
        private final Path path;
        private UserStore store;
        private Object version;
        private long checkedAt;

        public UsersFile(Path path) {
            this.path = path;
        }

        public Path path() {
            return path;
        }

        /** Makes the next {@link #current} read the file again (this process just changed it). */
        public synchronized void forget() {
            store = null;
        }

        public synchronized UserStore current() throws UserFileException, IOException {
            long now = System.nanoTime();
            if (store != null && now - checkedAt < CHECK_NANOS) {
                return store;
            }
            checkedAt = now;
            Object v = version();
            if (store == null || !v.equals(version)) {
                store = UserStore.load(path);
                version = v;
            }
            return store;
        }

        private Object version() throws IOException {
            try {
                var a = java.nio.file.Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class);
                return java.util.List.of(String.valueOf(a.fileKey()), a.lastModifiedTime(), a.size());
            } catch (java.nio.file.NoSuchFileException e) {
                return "missing";
            }
        }
    }
}
