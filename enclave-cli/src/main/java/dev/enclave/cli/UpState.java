package dev.enclave.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;

/** STATE/run/up.properties as the supervisor wrote it once everything was up. */
record UpState(long pid, long appPid, Path config, String netns) {

    static Optional<UpState> read(Path state) {
        Path file = state.resolve("run").resolve("up.properties");
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r);
            return Optional.of(new UpState(Long.parseLong(p.getProperty("pid")), Long.parseLong(p.getProperty("app_pid")),
                    Path.of(p.getProperty("config")), p.getProperty("netns")));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** True when the supervisor that wrote the file still runs (and is a JVM running enclave up, not a reused pid). */
    boolean supervisorAlive() {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .flatMap(h -> h.info().arguments())
                .map(args -> java.util.Arrays.asList(args).contains("up"))
                .orElse(false);
    }

    boolean appAlive() {
        return ProcessHandle.of(appPid).map(ProcessHandle::isAlive).orElse(false);
    }
}
