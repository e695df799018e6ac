package dev.enclave.gateway.auth;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Checks a user name and password, in this order:
 * <ol>
 *   <li>a banned source is refused at once, before any password work;</li>
 *   <li>credentials verified recently against the user's current hash are accepted from the
 *       {@link CredentialCache} (no hashing);</li>
 *   <li>otherwise the hash is verified on {@code hashing}, a bounded executor: when it is full the
 *       answer is {@link Outcome#BUSY} (the gateway answers 503), so a flood of guesses queues
 *       behind itself and cannot take every thread;</li>
 *   <li>the same credentials from the same source while they are being checked (an h2 client
 *       or a page opening many requests at once) share that one check instead of each taking a
 *       place on the executor;</li>
 *   <li>an unknown user costs the same hash as a known one (no timing oracle for user names);</li>
 *   <li>a failure is counted by the {@link LockoutTracker} and may ban the source; a success
 *       clears the source's failures and, when the stored hash is an imported bcrypt/apr1 or uses
 *       weaker parameters, stores a new argon2id hash (only if nobody changed it meanwhile).</li>
 * </ol>
 */
public final class Authenticator {
    /** What the caller does next. */
    public enum Outcome { OK, BAD_CREDENTIALS, BANNED, BUSY }

    /** {@code until} is set for {@link Outcome#BANNED}. */
    public record Result(Outcome outcome, String user, Instant until) {
        static Result of(Outcome o, String user) {
            return new Result(o, user, null);
        }
    }

    private final UsersFile users;
    private final PasswordHasher hasher;
    private final LockoutTracker lockout;
    private final CredentialCache cache;
    private final Executor hashing;
    private final String dummyHash;
    private final ConcurrentHashMap<Attempt, CompletableFuture<Result>> inFlight = new ConcurrentHashMap<>();

    private record Attempt(InetAddress source, ByteBuffer credentials) {
    }

    public Authenticator(UsersFile users, PasswordHasher hasher, LockoutTracker lockout, CredentialCache cache,
                         Executor hashing) {
        this.users = users;
        this.hasher = hasher;
        this.lockout = lockout;
        this.cache = cache;
        this.hashing = hashing;
        this.dummyHash = hasher.hash("enclave-dummy-password-for-unknown-users".toCharArray());
    }

    /** Reads the users file now, so a broken one stops start-up with its line number instead of every login. */
    public void checkUsersFile() throws UserFileException, IOException {
        users.current();
    }

    /** Checks the credentials; {@code password} is wiped when the check is done. */
    public CompletableFuture<Result> authenticate(InetAddress source, String user, char[] password) {
        Optional<Instant> banned = lockout.bannedUntil(source);
        if (banned.isPresent()) {
            Arrays.fill(password, '\0');
            return CompletableFuture.completedFuture(new Result(Outcome.BANNED, user, banned.get()));
        }
        Optional<String> stored;
        try {
            stored = users.current().hashOf(user);
        } catch (UserFileException | IOException e) {
            // Fail closed: without a readable users file nobody logs in.
            Arrays.fill(password, '\0');
            return CompletableFuture.failedFuture(e);
        }
        if (stored.isPresent() && cache.isVerified(user, password, stored.get())) {
            Arrays.fill(password, '\0');
            lockout.recordSuccess(source);
            return CompletableFuture.completedFuture(Result.of(Outcome.OK, user));
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
            hashing.execute(() -> {
                try {
                    out.complete(verify(source, user, password, stored));
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

    private Result verify(InetAddress source, String user, char[] password, Optional<String> stored) throws IOException {
        boolean ok;
        if (stored.isPresent()) {
            ok = hasher.verify(password, stored.get());
        } else {
            hasher.verify(password, dummyHash); // same cost as a real user: the answer time says nothing
            ok = false;
        }
        if (!ok) {
            Optional<Instant> ban = lockout.recordFailure(source, user);
            return ban.map(until -> new Result(Outcome.BANNED, user, until)).orElse(Result.of(Outcome.BAD_CREDENTIALS, user));
        }
        lockout.recordSuccess(source);
        cache.remember(user, password, stored.get());
        if (hasher.needsRehash(stored.get())) {
            String old = stored.get();
            String fresh = hasher.hash(password);
            try {
                UserStore.update(users.path(), s -> s.hashOf(user).filter(old::equals).isPresent() ? s.with(user, fresh) : s);
            } catch (UserFileException e) {
                // The login stands; the rehash waits for the next one.
            }
        }
        return Result.of(Outcome.OK, user);
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
