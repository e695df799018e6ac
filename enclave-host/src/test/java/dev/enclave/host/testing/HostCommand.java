package dev.enclave.host.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the host's system tools (ip, nft, socat, ping) for root-only tests. Tools are looked up by
 * full path: a root shell has /usr/sbin on PATH, a CI runner's JVM may not.
 */
public final class HostCommand {
    /** Exit status and everything printed (standard output and error together). */
    public record Result(int exit, String output) {
    }

    private HostCommand() {
    }

    /** The tool's full path, or null when it is not installed. */
    public static String tool(String name) {
        for (String dir : List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin")) {
            if (Files.isExecutable(Path.of(dir, name))) {
                return dir + "/" + name;
            }
        }
        return null;
    }

    /** Runs {@code cmd}; its output, or AssertionError when it fails. */
    public static String run(String input, String... cmd) throws IOException, InterruptedException {
        Result r = attempt(input, cmd);
        if (r.exit() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed (exit " + r.exit() + "): " + r.output().strip());
        }
        return r.output();
    }

    /** Runs {@code cmd} and returns how it ended, failure included. A command still running after 30 s is killed. */
    public static Result attempt(String input, String... cmd) throws IOException, InterruptedException {
        String[] resolved = cmd.clone();
        String path = tool(cmd[0]);
        if (path != null) {
            resolved[0] = path;
        }
        // Output goes to a file, so a command that prints a lot never blocks on a full pipe and a hung one can be killed.
        Path out = Files.createTempFile("enclave-host-test", ".out");
        try {
            Process p = new ProcessBuilder(resolved).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            try (var in = p.getOutputStream()) {
                if (input != null) {
                    in.write(input.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", cmd) + " did not finish");
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /** As {@link #run}, for clean-up: a failure is printed, not thrown. */
    public static void quietly(String... cmd) {
        try {
            run(null, cmd);
        } catch (IOException | InterruptedException | AssertionError e) {
            System.err.println("cleanup: " + String.join(" ", cmd) + ": " + e.getMessage());
        }
    }
}
