package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BansCommandIT {
    @TempDir
    Path state;

    @Test
    void listsAndLiftsBansAndExplainsMistakes() throws Exception {
        Instant future = Instant.now().plusSeconds(3600);
        Files.writeString(state.resolve("bans"), "# bans\n203.0.113.7 " + future + "\n2001:db8:1:2:0:0:0:0/64 " + future
                + "\n198.51.100.1 2000-01-01T00:00:00Z\n");
        EnclaveJar.Result list = EnclaveJar.run("bans", "list", "--state", state.toString());
        assertThat(list.exit()).as(list.err()).isZero();
        assertThat(list.out().lines()).containsExactly("203.0.113.7 " + future, "2001:db8:1:2:0:0:0:0/64 " + future);

        assertThat(EnclaveJar.run("bans", "unban", "2001:db8:1:2::99", "--state", state.toString()).exit()).isZero();
        assertThat(EnclaveJar.run("bans", "list", "--state", state.toString()).out().lines()).containsExactly("203.0.113.7 " + future);

        EnclaveJar.Result notBanned = EnclaveJar.run("bans", "unban", "203.0.113.8", "--state", state.toString());
        assertThat(notBanned.exit()).isEqualTo(2);
        assertThat(notBanned.err().strip()).isEqualTo("enclave: 203.0.113.8 is not banned; 'enclave bans list' shows the banned sources");

        EnclaveJar.Result bad = EnclaveJar.run("bans", "unban", "example.com", "--state", state.toString());
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.err()).contains("is not an IP address");

        Files.writeString(state.resolve("bans"), "garbage\n");
        EnclaveJar.Result corrupt = EnclaveJar.run("bans", "list", "--state", state.toString());
        assertThat(corrupt.exit()).isEqualTo(2);
        assertThat(corrupt.err()).contains("bans:1: not a ban line");
    }
}
