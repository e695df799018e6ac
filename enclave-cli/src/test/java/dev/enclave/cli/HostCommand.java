package dev.enclave.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the host's system tools (useradd, chpasswd, ip, nft …) for root-only tests. Tools are
 * looked up by full path: a root shell has /usr/sbin on PATH, a CI runner's JVM may not.
 */
final class HostCommand {
    private HostCommand() {
    }

    /** Exit status and everything printed (standard output and error together). */
    record Result(int exit, String output) {
    }

    /** The tool's full path, or null when it is not installed. */
    static String tool(String name) {
        for (String dir : List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin")) {
            if (Files.isExecutable(Path.of(dir, name))) {
                return dir + "/" + name;
            }
        }
        return null;
    }

    /** Runs {@code cmd} with {@code input} (or none) on its standard input; its output, or AssertionError when it fails. */
    static String run(String input, String... cmd) throws IOException, InterruptedException {
        String[] resolved = cmd.clone();
        String path = tool(cmd[0]);
        if (path != null) {
            resolved[0] = path;
        }
        Process p = new ProcessBuilder(resolved).redirectErrorStream(true).start();
        try (var in = p.getOutputStream()) {
            if (input != null) {
                in.write(input.getBytes(StandardCharsets.UTF_8));
            }
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish");
        }
        if (p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): " + out.strip());
        }
        return out;
    }

    /** As {@link #run}, for clean-up: a failure is printed, not thrown. */
    static void quietly(String... cmd) {
        try {
            run(null, cmd);
        } catch (IOException | InterruptedException | AssertionError e) {
            System.err.println("cleanup: " + String.join(" ", cmd) + ": " + e.getMessage());
        }
    }
}
