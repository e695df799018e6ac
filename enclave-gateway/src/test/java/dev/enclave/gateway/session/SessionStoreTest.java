package dev.enclave.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.gateway.testing.ManualClock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SessionStoreTest {
    private static final Duration IDLE = Duration.ofHours(8);
    private static final Duration ABSOLUTE = Duration.ofHours(24);

    @TempDir
    Path state;

    private final ManualClock clock = new ManualClock();
    /** The users' current credentials, as a users file would give them. */
    private final Map<String, String> credentials = new HashMap<>(Map.of("alice", "hash-of-alice-1", "bob", "hash-of-bob-1"));
    private final List<SessionStore> opened = new ArrayList<>();
    private final List<IOException> saveErrors = new ArrayList<>();

    private SessionStore open(SessionStore.Limits limits) throws Exception {
        SessionStore s = SessionStore.open(state, limits, user -> Optional.ofNullable(credentials.get(user)), clock,
                saveErrors::add);
        opened.add(s);
        return s;
    }

    private SessionStore open() throws Exception {
        return open(SessionStore.Limits.of(IDLE, ABSOLUTE));
    }

    @AfterEach
    void closeAll() {
        opened.forEach(SessionStore::close);
        assertThat(saveErrors).isEmpty();
    }

    private static String sha256Hex(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes()));
    }

    @Test
    void aTokenIs32RandomBytesAndOnlyItsHashIsKept() throws Exception {
        SessionStore store = open();
        String token = store.create("alice", "hash-of-alice-1");
        assertThat(token).matches("[A-Za-z0-9_-]{43}");
        assertThat(java.util.Base64.getUrlDecoder().decode(token)).hasSize(32);
        assertThat(store.create("alice", "hash-of-alice-1")).isNotEqualTo(token);
        store.flush();
        String file = Files.readString(state.resolve("sessions"));
        assertThat(file).contains(sha256Hex(token) + " alice ").doesNotContain(token).doesNotContain("hash-of-alice-1");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("sessions")))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("session-key")))).isEqualTo("rw-------");
        assertThat(store.find(token)).get().extracting(Session::user).isEqualTo("alice");
    }

    @Test
    void unknownAndMalformedTokensFindNothing() throws Exception {
        SessionStore store = open();
        store.create("alice", "hash-of-alice-1");
        assertThat(store.find(null)).isEmpty();
        assertThat(store.find("")).isEmpty();
        assertThat(store.find("A".repeat(43))).isEmpty();
        assertThat(store.find("not a token at all")).isEmpty();
    }

    @Test
    void aSessionEndsAfterTheIdleTimeoutWithoutRequests() throws Exception {
        SessionStore store = open();
        String token = store.create("alice", "hash-of-alice-1");
        clock.advance(IDLE.minusMinutes(1));
        assertThat(store.find(token)).isPresent(); // used: the idle time starts again
        clock.advance(IDLE.minusMinutes(1));
        assertThat(store.find(token)).isPresent();
        clock.advance(IDLE);
        assertThat(store.find(token)).isEmpty();
        clock.advance(Duration.ofMinutes(-1)); // gone, not merely out of time
        assertThat(store.find(token)).isEmpty();
    }

    @Test
    void stillValidDoesNotKeepAnIdleSessionAlive() throws Exception {
        SessionStore s = open();
        String token = s.create("alice", "hash-of-alice-1");
        for (int i = 0; i < 7; i++) { // an open WebSocket's watch, looking every hour of an idle day
            clock.advance(Duration.ofHours(1));
            assertThat(s.stillValid(token)).isTrue();
        }
        clock.advance(Duration.ofHours(1));
        assertThat(s.stillValid(token)).as("eight idle hours since the login").isFalse();
        assertThat(s.find(token)).isEmpty();
        assertThat(s.stillValid("not a token")).isFalse();
    }

    @Test
    void stillValidSeesAPasswordChangeAndALogout() throws Exception {
        SessionStore s = open();
        String changed = s.create("alice", "hash-of-alice-1");
        String loggedOut = s.create("bob", "hash-of-bob-1");
        credentials.put("alice", "hash-of-alice-2");
        s.revoke(loggedOut);
        assertThat(s.stillValid(changed)).isFalse();
        assertThat(s.stillValid(loggedOut)).isFalse();
    }

    @Test
    void revokingAUserEndsTheSessionsOpenedBeforeInARunningStoreAndAtTheNextStart() throws Exception {
        SessionStore s = open();
        String alice1 = s.create("alice", "hash-of-alice-1");
        String alice2 = s.create("alice", "hash-of-alice-1");
        String bob = s.create("bob", "hash-of-bob-1");
        s.flush();
        assertThat(SessionStore.list(state)).extracting(SessionStore.Listed::user).containsExactlyInAnyOrder("alice", "alice", "bob");
        SessionStore.revokeUser(state, "alice", clock.instant()); // 'enclave sessions revoke alice', another process
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("sessions-revoked")))).isEqualTo("rw-------");
        assertThat(SessionStore.list(state)).extracting(SessionStore.Listed::user).containsExactly("bob");
        long end = System.nanoTime() + 5_000_000_000L; // the file is looked at once a second
        while (s.find(alice1).isPresent() && System.nanoTime() < end) {
            Thread.sleep(100);
        }
        assertThat(s.find(alice1)).isEmpty();
        assertThat(s.stillValid(alice2)).isFalse();
        assertThat(s.find(bob)).isPresent();
        clock.advance(Duration.ofSeconds(1));
        String later = s.create("alice", "hash-of-alice-1");
        assertThat(s.find(later)).as("a login after the revocation").isPresent();
        s.close();
        opened.remove(s);
        SessionStore reopened = open();
        assertThat(reopened.find(alice2)).isEmpty();
        assertThat(reopened.find(later)).isPresent();
        assertThatThrownBy(() -> SessionStore.revokeUser(state, "no spaces allowed", clock.instant())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aSessionEndsAtTheAbsoluteTimeoutHoweverBusy() throws Exception {
        SessionStore store = open();
        String token = store.create("alice", "hash-of-alice-1");
        for (int hours = 0; hours < 23; hours++) {
            clock.advance(Duration.ofHours(1));
            assertThat(store.find(token)).as("after %d h", hours + 1).isPresent();
        }
        clock.advance(Duration.ofMinutes(59));
        assertThat(store.find(token)).isPresent();
        clock.advance(Duration.ofMinutes(1));
        assertThat(store.find(token)).isEmpty();
    }

    @Test
    void aPasswordChangeOrDeletionEndsThatUsersSessionsOnly() throws Exception {
        SessionStore store = open();
        String alice = store.create("alice", "hash-of-alice-1");
        String bob = store.create("bob", "hash-of-bob-1");
        String bob2 = store.create("bob", "hash-of-bob-1");
        credentials.put("alice", "hash-of-alice-2"); // enclave users passwd alice
        assertThat(store.find(alice)).isEmpty();
        credentials.put("alice", "hash-of-alice-1"); // and back: the session is gone for good
        assertThat(store.find(alice)).isEmpty();
        assertThat(store.find(bob)).isPresent();
        credentials.remove("bob"); // enclave users del bob
        assertThat(store.find(bob)).isEmpty();
        assertThat(store.find(bob2)).isEmpty();
        assertThat(store.size()).isZero();
    }

    @Test
    void anUnreadableUsersFileRefusesTheSessionButKeepsIt() throws Exception {
        boolean[] broken = {false};
        SessionStore store = SessionStore.open(state, SessionStore.Limits.of(IDLE, ABSOLUTE), user -> {
            if (broken[0]) {
                throw new UserFileException("users:3: not a name:hash entry");
            }
            return Optional.of("hash-of-alice-1");
        }, clock, saveErrors::add);
        opened.add(store);
        String token = store.create("alice", "hash-of-alice-1");
        broken[0] = true;
        assertThat(store.find(token)).isEmpty();
        broken[0] = false;
        assertThat(store.find(token)).isPresent();
    }

    @Test
    void revokeEndsTheSessionAndSaysWhose() throws Exception {
        SessionStore store = open();
        String token = store.create("alice", "hash-of-alice-1");
        assertThat(store.revoke(token)).contains("alice");
        assertThat(store.find(token)).isEmpty();
        assertThat(store.revoke(token)).isEmpty();
        store.flush();
        assertThat(Files.readString(state.resolve("sessions"))).doesNotContain(sha256Hex(token));
    }

    @Test
    void sessionsSurviveReopeningAndALogoutIsNotUndoneByIt() throws Exception {
        SessionStore first = open();
        String kept = first.create("alice", "hash-of-alice-1");
        String ended = first.create("alice", "hash-of-alice-1");
        first.revoke(ended);
        first.close();
        SessionStore second = open();
        assertThat(second.find(kept)).get().extracting(Session::user).isEqualTo("alice");
        assertThat(second.find(ended)).isEmpty();
    }

    @Test
    void aRequestDoesNotWriteTheFileLastSeenIsSavedCoarselyLater() throws Exception {
        SessionStore store = open();
        String token = store.create("alice", "hash-of-alice-1");
        store.flush();
        Path file = state.resolve("sessions");
        String before = Files.readString(file);
        Object identity = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        for (int i = 0; i < 1000; i++) {
            clock.advance(Duration.ofMillis(10)); // 10 s of requests, within the granularity
            assertThat(store.find(token)).isPresent();
        }
        store.flush();
        assertThat(Files.readString(file)).isEqualTo(before); // nothing to write: last-seen did not move
        assertThat(Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class).fileKey()).isEqualTo(identity);

        clock.advance(store.touchGranularity());
        Instant seen = clock.instant();
        store.find(token);
        for (int i = 0; i < 100; i++) {
            store.find(token);
        }
        assertThat(Files.readString(file)).isEqualTo(before); // still only in memory
        store.flush();
        assertThat(Files.readString(file)).contains(" " + seen + " ");
    }

    @Test
    void aUserHasAtMostMaxPerUserSessionsTheLeastRecentlyUsedEnds() throws Exception {
        SessionStore store = open(new SessionStore.Limits(IDLE, ABSOLUTE, 3, 100));
        List<String> tokens = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            tokens.add(store.create("alice", "hash-of-alice-1"));
            clock.advance(Duration.ofMinutes(5));
        }
        store.find(tokens.get(0)); // the oldest is in use; the second is the least recently used
        String bobs = store.create("bob", "hash-of-bob-1");
        String fourth = store.create("alice", "hash-of-alice-1");
        assertThat(store.find(tokens.get(1))).isEmpty();
        assertThat(store.find(tokens.get(0))).isPresent();
        assertThat(store.find(tokens.get(2))).isPresent();
        assertThat(store.find(fourth)).isPresent();
        assertThat(store.find(bobs)).isPresent();
    }

    @Test
    void theStoreHoldsAtMostMaxTotalSessions() throws Exception {
        SessionStore store = open(new SessionStore.Limits(IDLE, ABSOLUTE, 5, 10));
        for (int i = 0; i < 50; i++) {
            credentials.put("user" + i, "hash" + i);
            store.create("user" + i, "hash" + i);
            clock.advance(Duration.ofSeconds(1));
        }
        assertThat(store.size()).isEqualTo(10);
    }

    @Test
    void aFileWithOnlyExpiredSessionsLoadsEmpty() throws Exception {
        SessionStore first = open();
        String token = first.create("alice", "hash-of-alice-1");
        first.close();
        clock.advance(ABSOLUTE);
        SessionStore second = open();
        assertThat(second.size()).isZero();
        assertThat(second.find(token)).isEmpty();
    }

    @Test
    void aLineWrittenByHandIsNoSessionWithoutTheKey() throws Exception {
        String token = "A".repeat(43);
        Files.writeString(state.resolve("sessions"), sha256Hex(token) + " alice " + clock.instant() + " " + clock.instant()
                + " " + "B".repeat(43) + "\n");
        Files.setPosixFilePermissions(state.resolve("sessions"), PosixFilePermissions.fromString("rw-------"));
        SessionStore store = open();
        assertThat(store.size()).isEqualTo(1);
        assertThat(store.find(token)).isEmpty();
    }

    @ParameterizedTest(name = "sessions line \"{0}\" stops the start with file, line and fix")
    @ValueSource(strings = {
        "not a session",
        "0123 alice 2026-11-25T10:00:00Z 2026-11-25T10:00:00Z BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "%s alice yesterday 2026-11-25T10:00:00Z BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "%s alice 2026-11-25T10:00:00Z 2026-11-25T09:00:00Z BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "%s alice 2026-11-25T10:00:00Z 2026-11-25T10:00:00Z short",
        "%s alice  2026-11-25T10:00:00Z 2026-11-25T10:00:00Z BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"})
    void aCorruptSessionsFileIsRefusedNotIgnored(String line) throws Exception {
        Path file = state.resolve("sessions");
        Files.writeString(file, "# comment\n" + String.format(line, "a".repeat(64)) + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(this::open).isInstanceOf(UserFileException.class)
                .hasMessage(file + ":2: not a session line (sha256-of-token user created last-seen credential-stamp, each "
                        + "once); delete the file to end every browser session (users log in again), then start the gateway again");
    }

    @Test
    void aSessionListedTwiceIsRefused() throws Exception {
        String line = "a".repeat(64) + " alice 2026-11-25T10:00:00Z 2026-11-25T10:00:00Z " + "B".repeat(43) + "\n";
        Path file = state.resolve("sessions");
        Files.writeString(file, line + line);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(this::open).isInstanceOf(UserFileException.class).hasMessageStartingWith(file + ":2: not a session line");
    }

    @Test
    void aSessionsFileOthersCanReadIsRefusedWithTheChmodToRun() throws Exception {
        open().create("alice", "hash-of-alice-1");
        opened.forEach(SessionStore::close);
        Path file = state.resolve("sessions");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(this::open).isInstanceOf(UserFileException.class)
                .hasMessage(file + ": readable or writable by other users (mode rw-r--r--); run 'chmod 600 " + file + "'");
    }

    @Test
    void aCorruptKeyFileIsRefusedWithTheFix() throws Exception {
        Path key = state.resolve("session-key");
        Files.writeString(key, "not a key\n");
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(this::open).isInstanceOf(UserFileException.class)
                .hasMessage(key + ": not a session key (one line of 43 base64url characters); delete the file and start the "
                        + "gateway again to make a new one (every browser session ends)");
    }

    @Test
    void csrfTokensMatchOnlyTheBrowserValueTheyWereMadeForAndSurviveReopening() throws Exception {
        CsrfTokens csrf = open().csrf();
        String mine = csrf.newBrowserValue();
        String theirs = csrf.newBrowserValue();
        String token = csrf.tokenFor(mine);
        assertThat(csrf.matches(mine, token)).isTrue();
        assertThat(csrf.matches(theirs, token)).isFalse();
        assertThat(csrf.matches(mine, csrf.tokenFor(theirs))).isFalse();
        assertThat(csrf.matches(mine, "")).isFalse();
        assertThat(csrf.matches(mine, null)).isFalse();
        assertThat(csrf.matches(null, token)).isFalse();
        assertThat(csrf.matches("short", token)).isFalse();
        assertThat(token).isNotEqualTo(mine);
        opened.forEach(SessionStore::close);
        assertThat(open().csrf().matches(mine, token)).isTrue();
    }
}
