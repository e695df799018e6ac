package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuthenticatorTest {
    private static final String PASS = "a long passphrase";
    @TempDir
    Path state;
    private final PasswordHasher hasher = new PasswordHasher(new PasswordHasher.Params(1024, 1, 1)); // fast for tests
    private final AtomicInteger hashJobs = new AtomicInteger();
    private ExecutorService pool;
    private Executor counting;
    private Path usersFile;
    private LockoutTracker lockout;
    private Authenticator auth;
    private InetAddress client;

    @BeforeEach
    void setUp() throws Exception {
        pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new java.util.concurrent.ArrayBlockingQueue<>(4));
        counting = r -> {
            hashJobs.incrementAndGet();
            pool.execute(r);
        };
        usersFile = state.resolve("users");
        UserStore.update(usersFile, s -> s.with("alice", hasher.hash(PASS.toCharArray())));
        lockout = LockoutTracker.open(state, 3, Duration.ofMinutes(10), Duration.ofHours(1), Clock.systemUTC());
        trackers.add(lockout);
        auth = new Authenticator(new Authenticator.UsersFile(usersFile), hasher, lockout,
                new CredentialCache(Duration.ofMinutes(5), 1000, Clock.systemUTC()), counting);
        client = InetAddress.getByName("203.0.113.7");
    }

    private final List<LockoutTracker> trackers = new ArrayList<>();

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
        trackers.forEach(LockoutTracker::close); // bans are written on their own thread: done before the directory goes
    }

    private Authenticator.Outcome login(String user, String password) throws Exception {
        return auth.authenticate(client, user, password.toCharArray()).get(10, TimeUnit.SECONDS).outcome();
    }

    @Test
    void rightPasswordIsAcceptedWrongOneIsNot() throws Exception {
        assertThat(login("alice", PASS)).isEqualTo(Authenticator.Outcome.OK);
        assertThat(login("alice", PASS + "x")).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
    }

    @Test
    void aRepeatedLoginIsServedFromTheCacheWithoutHashing() throws Exception {
        login("alice", PASS);
        int jobs = hashJobs.get();
        for (int i = 0; i < 10; i++) {
            assertThat(login("alice", PASS)).isEqualTo(Authenticator.Outcome.OK);
        }
        assertThat(hashJobs.get()).isEqualTo(jobs);
    }

    @Test
    void aPasswordChangeInvalidatesTheCache() throws Exception {
        login("alice", PASS);
        UserStore.update(usersFile, s -> s.with("alice", hasher.hash("a new passphrase".toCharArray())));
        Thread.sleep(1100); // the users file is looked at again at most once a second
        assertThat(login("alice", PASS)).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(login("alice", "a new passphrase")).isEqualTo(Authenticator.Outcome.OK);
    }

    @Test
    void unknownUsersCostAHashToo() throws Exception {
        int before = hashJobs.get();
        assertThat(login("mallory", PASS)).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(hashJobs.get()).isEqualTo(before + 1);
    }

    @Test
    void failuresBanTheSourceAndABannedSourceCostsNoHashing() throws Exception {
        assertThat(login("alice", "wrong-1-xxxxxx")).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(login("alice", "wrong-2-xxxxxx")).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(login("alice", "wrong-3-xxxxxx")).isEqualTo(Authenticator.Outcome.BANNED);
        int jobs = hashJobs.get();
        assertThat(login("alice", PASS)).as("even the right password").isEqualTo(Authenticator.Outcome.BANNED);
        assertThat(hashJobs.get()).isEqualTo(jobs);
    }

    /** The users-file check, counting the passwords it checks; each waits for {@code gate} first. */
    private final class CountedCheck implements PasswordCheck {
        final UsersFileCheck real = new UsersFileCheck(new Authenticator.UsersFile(usersFile), hasher);
        final AtomicInteger checked = new AtomicInteger();
        final CountDownLatch gate;
        final String gatedPassword;
        final CountDownLatch gatedStarted = new CountDownLatch(1);

        /** {@code gatedPassword}: only that password waits (null: every one does). */
        CountedCheck(CountDownLatch gate, String gatedPassword) {
            this.gate = gate;
            this.gatedPassword = gatedPassword;
        }

        @Override
        public String kind() {
            return real.kind();
        }

        @Override
        public void validate() throws UserFileException, IOException {
            real.validate();
        }

        @Override
        public Optional<String> cacheVersion(String user) throws UserFileException, IOException {
            return real.cacheVersion(user);
        }

        @Override
        public Verdict check(InetAddress source, String user, char[] password, Optional<String> cacheVersion) throws IOException {
            checked.incrementAndGet();
            if (gatedPassword == null || gatedPassword.equals(new String(password))) {
                gatedStarted.countDown();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return real.check(source, user, password, cacheVersion);
        }
    }

    private static final int MAX_FAILURES = 5;
    private static final int THREADS = 2;

    private Authenticator concurrent(CountedCheck check, ExecutorService twoThreads) throws Exception {
        LockoutTracker five = LockoutTracker.open(Files.createDirectories(state.resolve("five")), MAX_FAILURES,
                Duration.ofMinutes(10), Duration.ofHours(1), Clock.systemUTC());
        trackers.add(five);
        return new Authenticator(check, five, new CredentialCache(Duration.ofMinutes(5), 1000, Clock.systemUTC()), twoThreads, null);
    }

    @Test
    void guessesQueuedBeforeABanAreNotCheckedAfterItSoALuckyLastGuessIsRefused() throws Exception {
        // Ten guesses at once from one source, as ten connections would send them: the pool's two
        // threads take the first two, its queue of eight the rest; the tenth is the right password.
        ExecutorService twoThreads = new ThreadPoolExecutor(THREADS, THREADS, 0, TimeUnit.SECONDS,
                new java.util.concurrent.ArrayBlockingQueue<>(8));
        CountDownLatch allQueued = new CountDownLatch(1);
        CountedCheck check = new CountedCheck(allQueued, null);
        try {
            Authenticator a = concurrent(check, twoThreads);
            List<CompletableFuture<Authenticator.Result>> guesses = new ArrayList<>();
            for (int i = 1; i <= 9; i++) {
                guesses.add(a.authenticate(client, "alice", ("wrong-guess-" + i).toCharArray()));
            }
            guesses.add(a.authenticate(client, "alice", PASS.toCharArray()));
            allQueued.countDown();
            List<Authenticator.Outcome> outcomes = new ArrayList<>();
            for (var g : guesses) {
                outcomes.add(g.get(10, TimeUnit.SECONDS).outcome());
            }
            assertThat(outcomes).doesNotContain(Authenticator.Outcome.OK, Authenticator.Outcome.BUSY);
            assertThat(outcomes.get(9)).isEqualTo(Authenticator.Outcome.BANNED);
            assertThat(outcomes).filteredOn(o -> o == Authenticator.Outcome.BAD_CREDENTIALS).hasSize(MAX_FAILURES - 1);
            // The banning failure's thread aside, only a check already running on the other thread finishes.
            assertThat(check.checked.get()).isBetween(MAX_FAILURES, MAX_FAILURES + THREADS - 1);
        } finally {
            allQueued.countDown();
            twoThreads.shutdownNow();
        }
    }

    @Test
    void theRightPasswordBeingCheckedWhenAnotherGuessBansTheSourceIsRefusedAsBanned() throws Exception {
        ExecutorService twoThreads = new ThreadPoolExecutor(THREADS, THREADS, 0, TimeUnit.SECONDS,
                new java.util.concurrent.ArrayBlockingQueue<>(8));
        CountDownLatch release = new CountDownLatch(1);
        CountedCheck check = new CountedCheck(release, PASS);
        try {
            Authenticator a = concurrent(check, twoThreads);
            CompletableFuture<Authenticator.Result> right = a.authenticate(client, "alice", PASS.toCharArray());
            assertThat(check.gatedStarted.await(10, TimeUnit.SECONDS)).as("the right password is being checked").isTrue();
            List<Authenticator.Outcome> wrong = new ArrayList<>();
            for (int i = 1; i <= MAX_FAILURES; i++) { // on the other thread, one after another
                wrong.add(a.authenticate(client, "alice", ("wrong-guess-" + i).toCharArray()).get(10, TimeUnit.SECONDS).outcome());
            }
            assertThat(wrong.get(MAX_FAILURES - 1)).isEqualTo(Authenticator.Outcome.BANNED);
            release.countDown();
            assertThat(right.get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Authenticator.Outcome.BANNED);
            assertThat(check.checked.get()).isEqualTo(MAX_FAILURES + THREADS - 1);
        } finally {
            release.countDown();
            twoThreads.shutdownNow();
        }
    }

    @Test
    void aUserNameLongerThan256BytesIsRefusedWithoutHashingAndCountsTowardsTheBan() throws Exception {
        String tooLong = "é".repeat(129); // 258 bytes in UTF-8
        int jobs = hashJobs.get();
        assertThat(login(tooLong, PASS)).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(login("a".repeat(24 * 1024), PASS)).isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(login(tooLong, PASS)).isEqualTo(Authenticator.Outcome.BANNED);
        assertThat(hashJobs.get()).isEqualTo(jobs);
        assertThat(auth.authenticate(InetAddress.getByName("203.0.113.9"), "a".repeat(256), "x".toCharArray())
                .get(10, TimeUnit.SECONDS).outcome()).as("256 bytes are still checked").isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
        assertThat(hashJobs.get()).isEqualTo(jobs + 1);
    }

    @Test
    void anOverlongUserNameIsCutForTheAuditLine() {
        assertThat(Authenticator.forAudit("alice")).isEqualTo("alice");
        assertThat(Authenticator.forAudit("a".repeat(256))).isEqualTo("a".repeat(256));
        assertThat(Authenticator.forAudit("b".repeat(30_000))).isEqualTo("b".repeat(64) + "...(30000 bytes)");
        assertThat(Authenticator.forAudit("é".repeat(200))).as("counted in UTF-8 bytes").isEqualTo("é".repeat(64) + "...(400 bytes)");
    }

    @Test
    void aFullHashingQueueAnswersBusyInsteadOfQueueingForever() throws Exception {
        ExecutorService tiny = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new SynchronousQueue<>());
        CountDownLatch release = new CountDownLatch(1);
        tiny.execute(() -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Authenticator busy = new Authenticator(new Authenticator.UsersFile(usersFile), hasher, lockout,
                new CredentialCache(Duration.ofMinutes(5), 1000, Clock.systemUTC()), tiny);
        try {
            assertThat(busy.authenticate(client, "alice", PASS.toCharArray()).get(5, TimeUnit.SECONDS).outcome())
                    .isEqualTo(Authenticator.Outcome.BUSY);
        } finally {
            release.countDown();
            tiny.shutdownNow();
        }
    }

    @Test
    void concurrentLoginsWithTheSameCredentialsFromOneSourceShareOneHash() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        pool.execute(() -> { // occupies the only hashing thread, so every login below is in flight at once
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        int before = hashJobs.get();
        java.util.List<java.util.concurrent.CompletableFuture<Authenticator.Result>> logins = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) { // far more than the queue of 4 would take one by one
            logins.add(auth.authenticate(client, "alice", PASS.toCharArray()));
        }
        release.countDown();
        for (var login : logins) {
            assertThat(login.get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Authenticator.Outcome.OK);
        }
        assertThat(hashJobs.get()).isEqualTo(before + 1);
        assertThat(auth.authenticate(InetAddress.getByName("203.0.113.8"), "alice", "wrong-1-xxxxxx".toCharArray())
                .get(10, TimeUnit.SECONDS).outcome()).as("another source is checked on its own").isEqualTo(Authenticator.Outcome.BAD_CREDENTIALS);
    }

    @Test
    void anImportedApr1HashIsReplacedByArgon2idAtTheFirstLogin() throws Exception {
        UserStore.update(usersFile, s -> s.withImported("bob", "$apr1$AoxggTQI$ODctZXpqrSVL68eOHrYtt0"));
        Thread.sleep(1100);
        assertThat(login("bob", "correct horse battery")).isEqualTo(Authenticator.Outcome.OK);
        String now = UserStore.load(usersFile).hashOf("bob").orElseThrow();
        assertThat(now).startsWith("$argon2id$");
        assertThat(hasher.verify("correct horse battery".toCharArray(), now)).isTrue();
    }

    @Test
    void theCacheIsBoundedAndKeepsNoPasswords() throws Exception {
        CredentialCache cache = new CredentialCache(Duration.ofMinutes(5), 3, Clock.systemUTC());
        for (int i = 0; i < 10; i++) {
            cache.remember("u" + i, PASS.toCharArray(), "h");
        }
        assertThat(cache.size()).isEqualTo(3);
        assertThat(cache.isVerified("u9", PASS.toCharArray(), "h")).isTrue();
        assertThat(cache.isVerified("u9", PASS.toCharArray(), "other-hash")).isFalse();
        assertThat(cache.isVerified("u0", PASS.toCharArray(), "h")).as("evicted").isFalse();
    }
}
