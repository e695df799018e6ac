package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
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
        auth = new Authenticator(new Authenticator.UsersFile(usersFile), hasher, lockout,
                new CredentialCache(Duration.ofMinutes(5), 1000, Clock.systemUTC()), counting);
        client = InetAddress.getByName("203.0.113.7");
    }

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
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
