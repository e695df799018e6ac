package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code enclave users} as a user runs it, against a real users file. */
class UsersCommandIT {
    @TempDir
    Path dir;

    @Test
    void addListPasswdDelRoundTrip() throws Exception {
        Path file = dir.resolve("state/users");
        EnclaveJar.Result add = EnclaveJar.runWithInput("a long passphrase\n", "users", "add", "alice", "--users", file.toString(), "--password-stdin");
        assertThat(add.exit()).as(add.err()).isZero();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        String first = UserStore.load(file).hashOf("alice").orElseThrow();
        assertThat(new PasswordHasher().verify("a long passphrase".toCharArray(), first)).isTrue();
        assertThat(Files.readString(file)).doesNotContain("a long passphrase");

        assertThat(EnclaveJar.runWithInput("second passphrase\r\n", "users", "add", "bob", "--users", file.toString(), "--password-stdin").exit()).isZero();
        assertThat(EnclaveJar.run("users", "list", "--users", file.toString()).out().lines()).containsExactly("alice", "bob");

        EnclaveJar.Result passwd = EnclaveJar.runWithInput("another passphrase\n", "users", "passwd", "alice", "--users", file.toString(), "--password-stdin");
        assertThat(passwd.exit()).as(passwd.err()).isZero();
        String second = UserStore.load(file).hashOf("alice").orElseThrow();
        assertThat(new PasswordHasher().verify("another passphrase".toCharArray(), second)).isTrue();
        assertThat(new PasswordHasher().verify("second passphrase".toCharArray(), UserStore.load(file).hashOf("bob").orElseThrow())).isTrue();

        assertThat(EnclaveJar.run("users", "del", "alice", "--users", file.toString()).exit()).isZero();
        assertThat(EnclaveJar.run("users", "list", "--users", file.toString()).out().lines()).containsExactly("bob");
    }

    @Test
    void mistakesExit2WithOneLineAndChangeNothing() throws Exception {
        Path file = dir.resolve("users");
        assertThat(EnclaveJar.runWithInput("a long passphrase\n", "users", "add", "alice", "--users", file.toString(), "--password-stdin").exit()).isZero();
        String before = Files.readString(file);

        assertOneLineUsageError(EnclaveJar.runWithInput("another passphrase\n", "users", "add", "alice", "--users", file.toString(), "--password-stdin"),
                "already exists", "enclave users passwd alice");
        assertOneLineUsageError(EnclaveJar.runWithInput("short\n", "users", "add", "bob", "--users", file.toString(), "--password-stdin"),
                "password too short");
        assertOneLineUsageError(EnclaveJar.runWithInput("a long passphrase\n", "users", "add", "Bad:Name", "--users", file.toString(), "--password-stdin"),
                "is not valid");
        assertOneLineUsageError(EnclaveJar.run("users", "del", "carol", "--users", file.toString()), "no user \"carol\"");
        assertOneLineUsageError(EnclaveJar.run("users", "add", "bob", "--users", file.toString()), "--password-stdin");
        assertThat(Files.readString(file)).isEqualTo(before);

        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        assertOneLineUsageError(EnclaveJar.run("users", "list", "--users", file.toString()), "chmod 600");
    }

    @Test
    void importsASeedStyleHtpasswdFileAndRefusesWeakFormats() throws Exception {
        Path file = dir.resolve("users");
        Path htpasswd = Files.writeString(dir.resolve("htpasswd"),
                "# written by htpasswd\n"
                + "alice:$2y$10$tQofLTg6qC4b3sAQKGjlDeotFVih7RisHdLoduF8E.WWOwCd6AHmq\n"
                + "bob:$apr1$AoxggTQI$ODctZXpqrSVL68eOHrYtt0\n");
        EnclaveJar.Result r = EnclaveJar.run("users", "import-htpasswd", htpasswd.toString(), "--users", file.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("imported 2 users");
        UserStore store = UserStore.load(file);
        assertThat(store.names()).containsExactly("alice", "bob");
        assertThat(new PasswordHasher().verify("correct horse battery".toCharArray(), store.hashOf("bob").orElseThrow())).isTrue();

        Path weak = Files.writeString(dir.resolve("weak"), "carol:$apr1$AoxggTQI$ODctZXpqrSVL68eOHrYtt0\ndan:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
        assertOneLineUsageError(EnclaveJar.run("users", "import-htpasswd", weak.toString(), "--users", file.toString()),
                weak + ":2", "dan", "nothing was imported");
        assertThat(UserStore.load(file).names()).containsExactly("alice", "bob");

        assertOneLineUsageError(EnclaveJar.run("users", "import-htpasswd", htpasswd.toString(), "--users", file.toString()),
                "\"alice\" already exists");
    }

    private static void assertOneLineUsageError(EnclaveJar.Result r, String... fragments) {
        assertThat(r.exit()).as(r.err()).isEqualTo(2);
        assertThat(r.err().strip()).doesNotContain("\n").startsWith("enclave: ").contains(fragments);
        assertThat(r.err()).doesNotContain("Exception");
    }
}
