package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator.Outcome;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Linux accounts through PAM, against real pam_unix, real accounts and /etc/shadow. Tests that
 * make accounts need root and skip otherwise; start-up checks run anywhere. A failed pam_unix
 * check takes about two seconds (its own fail delay), so wrong passwords are used sparingly.
 */
class PamCheckTest {
    private static final String PASS = "correct horse battery staple";
    @TempDir
    Path state;
    private LinuxAccounts accounts;
    private ThreadPoolExecutor pool;
    private final AtomicInteger pamJobs = new AtomicInteger();
    private AuditLog audit;
    private final InetAddress client = InetAddress.getLoopbackAddress();

    @BeforeEach
    void setUp() throws IOException {
        pool = new ThreadPoolExecutor(2, 2, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(8));
        audit = AuditLog.open(state.resolve("audit.log"));
    }

    private final List<LockoutTracker> trackers = new java.util.ArrayList<>();

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
        trackers.forEach(LockoutTracker::close); // bans are written on their own thread: done before the directory goes
        audit.close();
        if (accounts != null) {
            accounts.close();
        }
    }

    /** An Authenticator over PAM, as the gateway builds it; at most two failures before a ban. */
    private Authenticator authenticator(String group) throws Exception {
        PamCheck check = new PamCheck(new PamCheck.Options(accounts.service(), group, false));
        check.validate();
        Executor counting = r -> {
            pamJobs.incrementAndGet();
            pool.execute(r);
        };
        LockoutTracker lockout = LockoutTracker.open(state, 2, Duration.ofMinutes(10), Duration.ofHours(1), Clock.systemUTC());
        trackers.add(lockout);
        return new Authenticator(check, lockout, new CredentialCache(Duration.ofMinutes(1), 100, Clock.systemUTC()), counting, audit);
    }

    private Outcome login(Authenticator auth, String user, String password) throws Exception {
        return auth.authenticate(client, user, password.toCharArray()).get(30, TimeUnit.SECONDS).outcome();
    }

    private String auditLines() throws IOException {
        audit.flush();
        return Files.readString(state.resolve("audit.log"));
    }

    // ---- Linux accounts (root) --------------------------------------------------------------

    @Test
    void theRightPasswordLogsInAndTheNextRequestIsServedFromTheCacheWithoutPam() throws Exception {
        accounts = LinuxAccounts.create();
        String alice = accounts.user("a", PASS);
        Authenticator auth = authenticator(null);
        assertThat(login(auth, alice, PASS)).isEqualTo(Outcome.OK);
        assertThat(pamJobs.get()).isEqualTo(1);
        assertThat(login(auth, alice, PASS)).isEqualTo(Outcome.OK);
        assertThat(pamJobs.get()).as("served from the verified-credential cache").isEqualTo(1);
    }

    @Test
    void concurrentChecksDoNotInterfere() throws Exception {
        accounts = LinuxAccounts.create();
        String alice = accounts.user("a", PASS);
        String bob = accounts.user("b", PASS + " too");
        PamCheck check = new PamCheck(new PamCheck.Options(accounts.service(), null, false));
        check.validate();
        ThreadPoolExecutor four = new ThreadPoolExecutor(4, 4, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(16));
        try {
            List<Future<PasswordCheck.Verdict>> verdicts = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                boolean a = i % 2 == 0;
                verdicts.add(four.submit(() -> check.check(client, a ? alice : bob, (a ? PASS : PASS + " too").toCharArray(),
                        Optional.empty())));
            }
            for (Future<PasswordCheck.Verdict> v : verdicts) {
                assertThat(v.get(30, TimeUnit.SECONDS)).isEqualTo(PasswordCheck.Verdict.ACCEPTED);
            }
        } finally {
            four.shutdownNow();
        }
    }

    @Test
    void aWrongPasswordIsRefusedAndCountsTowardsTheBan() throws Exception {
        accounts = LinuxAccounts.create();
        String alice = accounts.user("a", PASS);
        Authenticator auth = authenticator(null);
        assertThat(login(auth, alice, PASS + "!")).isEqualTo(Outcome.BAD_CREDENTIALS);
        assertThat(login(auth, alice, "another guess")).as("second failure of two allowed").isEqualTo(Outcome.BANNED);
        int jobs = pamJobs.get();
        assertThat(login(auth, alice, PASS)).as("banned: even the right password").isEqualTo(Outcome.BANNED);
        assertThat(pamJobs.get()).as("a banned source costs no PAM call").isEqualTo(jobs);
        assertThat(auditLines()).as("a plain wrong password has no line of its own").doesNotContain("login_refused");
    }

    @Test
    void anAccountOutsideThePamGroupIsRefusedEvenWithTheRightPasswordAndTheReasonIsAudited() throws Exception {
        accounts = LinuxAccounts.create();
        String group = accounts.group("g");
        String member = accounts.user("m", PASS, group);
        String outsider = accounts.user("o", PASS);
        Authenticator auth = authenticator(group);
        assertThat(login(auth, outsider, PASS)).isEqualTo(Outcome.BAD_CREDENTIALS);
        assertThat(login(auth, member, PASS)).isEqualTo(Outcome.OK);
        assertThat(auditLines()).contains("\"event\":\"login_refused\"", "\"user\":\"" + outsider + "\"", "\"check\":\"pam\"",
                "\"reason\":\"not_in_group " + group + "\"").doesNotContain(PASS);
    }

    @Test
    void aLockedAccountIsRefused() throws Exception {
        accounts = LinuxAccounts.create();
        String alice = accounts.user("l", PASS);
        accounts.usermod(alice, "-L");
        assertThat(login(authenticator(null), alice, PASS)).isEqualTo(Outcome.BAD_CREDENTIALS);
    }

    @Test
    void anExpiredAccountIsRefusedByTheAccountCheckAfterTheRightPassword() throws Exception {
        accounts = LinuxAccounts.create();
        String alice = accounts.user("e", PASS);
        accounts.usermod(alice, "--expiredate", "1970-01-02");
        assertThat(login(authenticator(null), alice, PASS)).isEqualTo(Outcome.BAD_CREDENTIALS);
        assertThat(auditLines()).contains("\"user\":\"" + alice + "\"", "\"reason\":\"account_expired\"");
    }

    @Test
    void anUnknownUserIsRefused() throws Exception {
        accounts = LinuxAccounts.create();
        String alice = accounts.user("a", PASS);
        assertThat(login(authenticator(null), alice + "x", PASS)).isEqualTo(Outcome.BAD_CREDENTIALS);
        assertThat(pamJobs.get()).as("checked like a real account: no shortcut tells who exists").isEqualTo(1);
    }

    @Test
    void rootIsRefusedBeforePamIsAsked() throws Exception {
        accounts = LinuxAccounts.create();
        assertThat(login(authenticator(null), "root", "whatever root's password is")).isEqualTo(Outcome.BAD_CREDENTIALS);
        assertThat(auditLines()).contains("\"user\":\"root\"", "\"reason\":\"root_refused\"");
    }

    // ---- the shadow line as the cache version (any user: a shadow file of the test's own) -----

    @Test
    void theCacheVersionChangesWithTheUsersShadowLineOnlyAndFallsBackWhenThereIsNone() throws Exception {
        Path shadow = state.resolve("shadow");
        Files.writeString(shadow, "alice:$y$j9T$salt$hash1:20000:0:99999:7:::\nbob:$y$j9T$salt$hashb:20000:0:99999:7:::\n");
        PamCheck check = new PamCheck(new PamCheck.Options("enclave", null, false), shadow, 0);
        String first = check.cacheVersion("alice").orElseThrow();
        assertThat(first).startsWith("pam:enclave:").doesNotContain("hash1");
        assertThat(check.cacheVersion("alice")).as("unchanged file").containsSame(first);

        Files.writeString(shadow, "alice:$y$j9T$salt$hash1:20000:0:99999:7:::\nbob:$y$j9T$salt$hashB2:20001:0:99999:7:::\n");
        assertThat(check.cacheVersion("alice")).as("another user's change").contains(first);
        Files.writeString(shadow, "alice:$y$j9T$salt$hash22:20001:0:99999:7:::\nbob:$y$j9T$salt$hashB2:20001:0:99999:7:::\n");
        String changed = check.cacheVersion("alice").orElseThrow();
        assertThat(changed).as("a new password").isNotEqualTo(first);
        Files.writeString(shadow, "alice:!$y$j9T$salt$hash22:20001:0:99999:7:::\n");
        assertThat(check.cacheVersion("alice")).as("locked").get().isNotEqualTo(changed);
        Files.writeString(shadow, "carol:x:1::::::\n");
        assertThat(check.cacheVersion("alice")).as("removed: the version every check had before").contains("pam:enclave");
        Files.delete(shadow);
        assertThat(check.cacheVersion("carol")).as("no shadow file to read").contains("pam:enclave");
    }

    // ---- start-up checks (any user) ---------------------------------------------------------

    @Test
    void aServiceWithoutAFileInEtcPamDStopsStartUpNamingTheFileAndTheFix() {
        assertThatThrownBy(() -> new PamCheck(new PamCheck.Options("enclave-no-such-service", null, false)).validate())
                .isInstanceOf(IOException.class)
                .hasMessage("PAM service \"enclave-no-such-service\": /etc/pam.d/enclave-no-such-service does not exist; create it "
                        + "with the two lines 'auth required pam_unix.so' and 'account required pam_unix.so', or name an existing service");
    }

    @ParameterizedTest(name = "service name \"{0}\" is refused")
    @ValueSource(strings = {"../shadow", "/etc/pam.d/login", "", ".hidden"})
    void aServiceNameThatIsNotAFileNameIsRefused(String service) {
        assertThatThrownBy(() -> new PamCheck(new PamCheck.Options(service, null, false)).validate())
                .isInstanceOf(IOException.class).hasMessageContaining("is not a service name");
    }

    @Test
    void aGroupThatDoesNotExistStopsStartUpSayingHowToCreateIt() {
        assumeTrue(Files.isRegularFile(Path.of("/etc/pam.d/other")), "needs Linux-PAM's /etc/pam.d/other");
        assertThatThrownBy(() -> new PamCheck(new PamCheck.Options("other", "enclave-no-such-group", false)).validate())
                .isInstanceOf(IOException.class)
                .hasMessage("PAM group \"enclave-no-such-group\" does not exist; create it (groupadd enclave-no-such-group) "
                        + "and add the people who may log in (usermod -aG enclave-no-such-group USER)");
    }

    @ParameterizedTest(name = "user name {0} is never handed to PAM")
    @ValueSource(strings = {"alice\u0000root", "alice\nroot", "-alice", "a:b", ""})
    void namesThatCWouldReadDifferentlyAreRefused(String user) {
        assertThat(PamCheck.plausibleName(user)).isFalse();
    }

    @ParameterizedTest(name = "user name {0} is fine")
    @ValueSource(strings = {"alice", "alice.smith", "alice@corp.example", "Zoë"})
    void ordinaryNamesPass(String user) {
        assertThat(PamCheck.plausibleName(user)).isTrue();
    }
}
