package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.testing.ManualClock;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class LockoutTrackerTest {
    @TempDir
    Path state;

    private final ManualClock clock = new ManualClock();

    private final List<LockoutTracker> opened = new ArrayList<>();

    private LockoutTracker tracker() throws Exception {
        return opened(LockoutTracker.open(state, 5, Duration.ofMinutes(10), Duration.ofHours(1), clock));
    }

    private LockoutTracker opened(LockoutTracker t) {
        opened.add(t);
        return t;
    }

    @AfterEach
    void closeTrackers() {
        opened.forEach(LockoutTracker::close); // bans are written on their own thread: done before the directory goes
    }

    private static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    @Test
    void theFifthFailureInTheWindowBansTheSourceForTheBanLength() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 0; i < 4; i++) {
            assertThat(t.recordFailure(ip("203.0.113.7"), "alice")).isEmpty();
        }
        assertThat(t.bannedUntil(ip("203.0.113.7"))).isEmpty();
        assertThat(t.recordFailure(ip("203.0.113.7"), "alice")).contains(clock.instant().plus(Duration.ofHours(1)));
        assertThat(t.bannedUntil(ip("203.0.113.7"))).isPresent();
        assertThat(t.bannedUntil(ip("203.0.113.8"))).as("another source").isEmpty();
        clock.advance(Duration.ofMinutes(61));
        assertThat(t.bannedUntil(ip("203.0.113.7"))).as("ban expired").isEmpty();
    }

    @Test
    void failuresOlderThanTheWindowDoNotCount() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 0; i < 4; i++) {
            t.recordFailure(ip("203.0.113.7"), "u" + i);
        }
        clock.advance(Duration.ofMinutes(11));
        assertThat(t.recordFailure(ip("203.0.113.7"), "x")).isEmpty();
    }

    @Test
    void guessingOneUserFromManySourcesBansTheSourceThatReachesTheLimit() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 1; i <= 4; i++) {
            assertThat(t.recordFailure(ip("198.51.100." + i), "alice")).isEmpty();
        }
        assertThat(t.recordFailure(ip("198.51.100.5"), "alice")).isPresent();
        assertThat(t.bannedUntil(ip("198.51.100.5"))).isPresent();
        assertThat(t.bannedUntil(ip("198.51.100.1"))).isEmpty();
    }

    @Test
    void aSuccessfulLoginClearsTheSourcesFailures() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 0; i < 4; i++) {
            t.recordFailure(ip("203.0.113.7"), "u" + i);
        }
        t.recordSuccess(ip("203.0.113.7"));
        assertThat(t.recordFailure(ip("203.0.113.7"), "v")).isEmpty();
    }

    @Test
    void ipv6SourcesAreCountedPerSlash64() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 1; i <= 4; i++) {
            t.recordFailure(ip("2001:db8:1:2::" + i), "u" + i);
        }
        assertThat(t.recordFailure(ip("2001:db8:1:2:ffff::9"), "u9")).isPresent();
        assertThat(t.bannedUntil(ip("2001:db8:1:2::77"))).isPresent();
        assertThat(t.bannedUntil(ip("2001:db8:1:3::1"))).isEmpty();
        assertThat(t.bans()).extracting(LockoutTracker.Ban::source).containsExactly("2001:db8:1:2:0:0:0:0/64");
    }

    @Test
    void bansSurviveARestartAndExpiredOnesAreDropped() throws Exception {
        LockoutTracker first = tracker();
        for (int i = 0; i < 5; i++) {
            first.recordFailure(ip("203.0.113.7"), "alice");
        }
        first.flush();
        Path file = state.resolve("bans");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");

        LockoutTracker restarted = tracker();
        assertThat(restarted.bannedUntil(ip("203.0.113.7"))).isPresent();

        clock.advance(Duration.ofHours(2));
        assertThat(tracker().bans()).isEmpty();
    }

    @Test
    void unbanLiftsABanAndIsSaved() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 0; i < 5; i++) {
            t.recordFailure(ip("203.0.113.7"), "alice");
        }
        assertThat(t.unban("203.0.113.7")).isTrue();
        assertThat(t.unban("203.0.113.7")).isFalse();
        assertThat(tracker().bannedUntil(ip("203.0.113.7"))).isEmpty();
    }

    @Test
    void aRunningTrackerSeesAnUnbanMadeByAnotherProcess() throws Exception {
        LockoutTracker running = tracker();
        for (int i = 0; i < 5; i++) {
            running.recordFailure(ip("203.0.113.7"), "alice");
        }
        assertThat(running.bannedUntil(ip("203.0.113.7"))).isPresent();
        running.flush();
        LockoutTracker cli = tracker(); // what 'enclave bans unban' does, in its own process
        assertThat(cli.unban("203.0.113.7")).isTrue();
        Thread.sleep(1100); // the file is looked at again at most once a second
        assertThat(running.bannedUntil(ip("203.0.113.7"))).isEmpty();
    }

    /** Writes down what a {@link LockoutTracker.BanListener} hears. */
    static final class Heard implements LockoutTracker.BanListener {
        final List<String> events = new ArrayList<>();

        @Override
        public void banned(LockoutTracker.Ban ban) {
            events.add("ban " + ban.source() + " until " + ban.until());
        }

        @Override
        public void unbanned(String source) {
            events.add("unban " + source);
        }
    }

    @Test
    void theListenerStartsFromTheBansInForceAndHearsEachNewBanAndEarlyUnban() throws Exception {
        LockoutTracker t = tracker();
        for (int i = 0; i < 5; i++) {
            t.recordFailure(ip("203.0.113.7"), "alice");
        }
        Heard heard = new Heard();
        assertThat(t.listen(heard)).containsExactly(new LockoutTracker.Ban("203.0.113.7", clock.instant().plus(Duration.ofHours(1))));
        for (int i = 0; i < 5; i++) {
            t.recordFailure(ip("2001:db8:1:2::" + (i + 1)), "bob");
        }
        t.unban("203.0.113.7");
        assertThat(heard.events).containsExactly(
                "ban 2001:db8:1:2:0:0:0:0/64 until " + clock.instant().plus(Duration.ofHours(1)),
                "unban 203.0.113.7");
    }

    @Test
    void theListenerHearsUnbansAndBansMadeThroughTheFileByAnotherProcess() throws Exception {
        LockoutTracker running = tracker();
        for (int i = 0; i < 5; i++) {
            running.recordFailure(ip("203.0.113.7"), "alice");
        }
        Heard heard = new Heard();
        running.listen(heard);
        running.flush();
        LockoutTracker cli = tracker(); // 'enclave bans unban', or another gateway on this state directory
        cli.unban("203.0.113.7");
        for (int i = 0; i < 5; i++) {
            cli.recordFailure(ip("198.51.100.9"), "carol");
        }
        cli.flush();
        running.refresh();
        assertThat(heard.events).containsExactly("unban 203.0.113.7",
                "ban 198.51.100.9 until " + clock.instant().plus(Duration.ofHours(1)));
        running.refresh();
        assertThat(heard.events).as("an unchanged file is no news").hasSize(2);
    }

    @Test
    void aBanThatRunsOutIsNotReportedAsAnUnban() throws Exception {
        LockoutTracker running = tracker();
        for (int i = 0; i < 5; i++) {
            running.recordFailure(ip("203.0.113.7"), "alice");
        }
        Heard heard = new Heard();
        running.listen(heard);
        running.flush();
        clock.advance(Duration.ofHours(2));
        Files.writeString(state.resolve("bans"), "# rewritten by hand after the ban ended\n");
        running.refresh();
        assertThat(running.bannedUntil(ip("203.0.113.7"))).isEmpty();
        assertThat(heard.events).as("its end was known when it started").isEmpty();
    }

    @Test
    void anUnreadableBansFileIsRefusedNotIgnored() throws Exception {
        Files.writeString(state.resolve("bans"), "203.0.113.7 tomorrow\n");
        assertThatThrownBy(this::tracker).isInstanceOf(UserFileException.class)
                .hasMessageContaining("bans:1: not a ban line");
    }

    @Test
    void failureCountersAreBounded() throws Exception {
        LockoutTracker t = opened(LockoutTracker.open(state, 1_000_000, Duration.ofMinutes(10), Duration.ofHours(1), clock));
        for (int i = 0; i < LockoutTracker.MAX_TRACKED + 10; i++) {
            t.recordFailure(InetAddress.getByAddress(new byte[] {10, (byte) (i >> 16), (byte) (i >> 8), (byte) i}), null);
        }
        assertThat(t.trackedSources()).isEqualTo(LockoutTracker.MAX_TRACKED);
    }

    @Test
    void userNamesAreCountedUnderAFixedSizeKeyThatHoldsNoName() throws Exception {
        LockoutTracker t = tracker();
        String huge = "x".repeat(24 * 1024); // what a Basic header can carry
        for (int i = 0; i < 4; i++) {
            assertThat(t.recordFailure(ip("198.51.100." + (i + 1)), huge)).isEmpty();
        }
        t.recordFailure(ip("198.51.100.9"), "alice");
        assertThat(t.trackedUserKeys()).hasSize(2).allSatisfy(k -> assertThat(k).matches("[0-9a-f]{32}"))
                .noneMatch(k -> k.contains("alice") || k.contains("xxxx"));
        assertThat(t.recordFailure(ip("198.51.100.5"), huge)).as("the same long name, fifth time").isPresent();
    }

    @Test
    void bansAreBoundedAndTheOneEndingSoonestMakesRoomAudited() throws Exception {
        LockoutTracker t = opened(LockoutTracker.open(state, 1, Duration.ofMinutes(10), Duration.ofHours(1), clock, 3));
        AuditLog audit = AuditLog.open(state.resolve("audit.log"));
        t.auditTo(audit);
        Heard heard = new Heard();
        t.listen(heard);
        for (int i = 1; i <= 4; i++) {
            assertThat(t.recordFailure(ip("198.51.100." + i), null)).as("ban " + i + " still starts").isPresent();
            clock.advance(Duration.ofMinutes(1));
        }
        assertThat(t.bans()).extracting(LockoutTracker.Ban::source).containsExactly("198.51.100.2", "198.51.100.3", "198.51.100.4");
        assertThat(t.bannedUntil(ip("198.51.100.1"))).isEmpty();
        assertThat(heard.events).contains("unban 198.51.100.1");
        t.flush();
        assertThat(LockoutTracker.open(state, 1, Duration.ofMinutes(10), Duration.ofHours(1), clock, 3).bans()).hasSize(3);
        audit.flush();
        assertThat(Files.readString(state.resolve("audit.log"))).contains("\"event\":\"ban_evicted\"")
                .contains("\"source\":\"198.51.100.1\"").contains("\"for\":\"198.51.100.4\"");
        audit.close();
    }

    @Test
    @Timeout(30) // a lookup blocked behind the write would hang here
    void theBansFileIsWrittenOnItsOwnThreadWithoutTheLockSoLookupsDoNotWaitForIt() throws Exception {
        LockoutTracker t = tracker();
        CountDownLatch writing = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger writes = new AtomicInteger();
        List<String> seenByWriter = new ArrayList<>();
        t.beforeWrite = () -> {
            synchronized (seenByWriter) {
                seenByWriter.add(Thread.currentThread().getName() + " holds lock: " + Thread.holdsLock(t));
            }
            writes.incrementAndGet();
            writing.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        for (int i = 0; i < 5; i++) {
            t.recordFailure(ip("203.0.113.7"), "alice");
        }
        writing.await();
        // The write is under way and stuck: the event loop's calls go on.
        assertThat(t.bannedUntil(ip("203.0.113.7"))).isPresent();
        t.recordSuccess(ip("198.51.100.1"));
        for (int i = 0; i < 5; i++) { // three more bans meanwhile: one more write for all of them
            t.recordFailure(ip("198.51.100.2"), "u" + i);
            t.recordFailure(ip("198.51.100.3"), "v" + i);
            t.recordFailure(ip("198.51.100.4"), "w" + i);
        }
        release.countDown();
        t.flush();
        assertThat(writes.get()).isEqualTo(2);
        assertThat(seenByWriter).containsOnly("enclave-bans-writer holds lock: false");
        assertThat(tracker().bans()).extracting(LockoutTracker.Ban::source)
                .containsExactlyInAnyOrder("203.0.113.7", "198.51.100.2", "198.51.100.3", "198.51.100.4");
    }
}
