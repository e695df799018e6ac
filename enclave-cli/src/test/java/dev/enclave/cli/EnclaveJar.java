package dev.enclave.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the shaded {@code enclave.jar} in a child JVM, as the launcher does. */
final class EnclaveJar {
    private EnclaveJar() {
    }

    static Path jar() {
        String p = System.getProperty("enclave.jar");
        if (p == null || !Files.exists(Path.of(p))) {
            throw new IllegalStateException("enclave.jar not found (" + p + "); run through 'mvn verify'");
        }
        return Path.of(p);
    }

    static ProcessBuilder command(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-jar");
        cmd.add(jar().toString());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    /** Runs to completion (at most 60 s) and returns exit code, stdout and stderr. */
    static Result run(String... args) throws IOException, InterruptedException {
        return runWithInput("", args);
    }

    /** Like {@link #run}, with {@code input} on standard input. */
    static Result runWithInput(String input, String... args) throws IOException, InterruptedException {
        Process p = command(args).start();
        try (var stdin = p.getOutputStream()) {
            stdin.write(input.getBytes(StandardCharsets.UTF_8));
        }
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("enclave " + String.join(" ", args) + " did not finish");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    record Result(int exit, String out, String err) {
    }
}
