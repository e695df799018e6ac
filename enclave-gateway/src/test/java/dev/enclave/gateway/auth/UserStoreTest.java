package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UserStoreTest {
    private static final String HASH =
            "$argon2id$v=19$m=16384,t=2,p=1$YzI5dFpYTmhiSFF4TWpNME5UWTNPQQ$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880";

    @TempDir
    Path dir;

    @Test
    void aMissingFileIsAnEmptyStore() throws Exception {
        assertThat(UserStore.load(dir.resolve("users")).names()).isEmpty();
    }

    @Test
    void updatesAreWrittenOwnerOnlyAndReadBack() throws Exception {
        Path file = dir.resolve("users");
        UserStore.update(file, s -> s.with("alice", HASH).with("bob", HASH));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        UserStore loaded = UserStore.load(file);
        assertThat(loaded.names()).containsExactly("alice", "bob");
        assertThat(loaded.hashOf("alice")).contains(HASH);
        UserStore.update(file, s -> s.without("alice"));
        assertThat(UserStore.load(file).names()).containsExactly("bob");
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("users", "users.lock");
        }
    }

    @Test
    void concurrentUpdatesDoNotLoseEachOther() throws Exception {
        Path file = dir.resolve("users");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<?>> done = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            String name = "user" + i;
            done.add(pool.submit(() -> UserStore.update(file, s -> s.with(name, HASH))));
        }
        for (Future<?> f : done) {
            f.get();
        }
        pool.shutdown();
        assertThat(UserStore.load(file).names()).hasSize(40);
    }

    @Test
    void aFileOthersCanReadIsRefusedWithTheFix() throws Exception {
        Path file = Files.writeString(dir.resolve("users"), "alice:" + HASH + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> UserStore.load(file)).isInstanceOf(UserFileException.class)
                .hasMessageContaining("chmod 600 " + file);
    }

    @Test
    void aBadLineMakesTheWholeFileUnusableAndNamesTheLine() throws Exception {
        Path file = ownerOnly("# users\nalice:" + HASH + "\nbob:$apr1$xyz\n");
        assertThatThrownBy(() -> UserStore.load(file)).isInstanceOf(UserFileException.class)
                .hasMessageStartingWith(file + ":3: not an argon2id hash");
    }

    @Test
    void aLineWithoutColonIsRefused() throws Exception {
        Path file = ownerOnly("alice " + HASH + "\n");
        assertThatThrownBy(() -> UserStore.load(file)).hasMessageStartingWith(file + ":1: not a name:hash entry");
    }

    @Test
    void aUserListedTwiceIsRefused() throws Exception {
        Path file = ownerOnly("alice:" + HASH + "\nalice:" + HASH + "\n");
        assertThatThrownBy(() -> UserStore.load(file)).hasMessageContaining(":2: user \"alice\" is listed twice");
    }

    @Test
    void invalidNamesAreRefused() {
        for (String bad : new String[] {"", "Alice", "9lives", "a:b", "a b", "x".repeat(33), "../root"}) {
            assertThatThrownBy(() -> UserStore.checkName(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        UserStore.checkName("alice");
        UserStore.checkName("_svc.bot-1");
    }

    private Path ownerOnly(String text) throws Exception {
        Path file = Files.writeString(dir.resolve("users"), text);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return file;
    }
}
