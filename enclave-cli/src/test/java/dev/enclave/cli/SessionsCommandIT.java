package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SessionsCommandIT {
    @TempDir
    Path state;

    @Test
    void listsSessionsAndRevokesAUsersSessionsAndExplainsMistakes() throws Exception {
        Instant created = Instant.now().minusSeconds(600);
        Instant seen = Instant.now().minusSeconds(60);
        String stamp = "S".repeat(43);
        Path sessions = state.resolve("sessions");
        Files.writeString(sessions, "# sessions\n" + "a".repeat(64) + " alice " + created + " " + seen + " " + stamp + "\n"
                + "b".repeat(64) + " bob " + created + " " + seen + " " + stamp + "\n");
        Files.setPosixFilePermissions(sessions, PosixFilePermissions.fromString("rw-------"));
        EnclaveJar.Result list = EnclaveJar.run("sessions", "list", "--state", state.toString());
        assertThat(list.exit()).as(list.err()).isZero();
        assertThat(list.out().lines()).containsExactly("alice " + created + " " + seen, "bob " + created + " " + seen);

        EnclaveJar.Result revoke = EnclaveJar.run("sessions", "revoke", "alice", "--state", state.toString());
        assertThat(revoke.exit()).as(revoke.err()).isZero();
        assertThat(revoke.out()).startsWith("ended every session of alice");
        assertThat(EnclaveJar.run("sessions", "list", "--state", state.toString()).out().lines())
                .containsExactly("bob " + created + " " + seen);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("sessions-revoked")))).isEqualTo("rw-------");

        EnclaveJar.Result bad = EnclaveJar.run("sessions", "revoke", "two words", "--state", state.toString());
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.err()).contains("is no user name a session can have");
    }
}
