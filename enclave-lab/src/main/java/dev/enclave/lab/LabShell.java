package dev.enclave.lab;

import dev.enclave.host.Nft;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the lab's commands: in one of its namespaces, as root or as the app's unprivileged user
 * ({@code setpriv}, as the app itself runs), with an environment built from nothing, and with a
 * deadline after which the command is killed. Output (stdout and stderr together) is kept for evidence.
 */
public final class LabShell {
    /** The app's user: the one {@code enclave up} runs the app as. */
    public static final String APP_USER = "nobody";

    /** What a command did. {@code exit} is -1 when it was killed at its deadline. */
    public record Run(int exit, String output) {
        public boolean ok() {
            return exit == 0;
        }

        /** The output's first non-blank line, trimmed, or "(no output)". */
        public String firstLine() {
            return output.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst().orElse("(no output)");
        }

        /** The output's last non-blank line, trimmed, or "(no output)". */
        public String lastLine() {
            return output.lines().map(String::strip).filter(l -> !l.isEmpty()).reduce((a, b) -> b).orElse("(no output)");
        }
    }

    private LabShell() {
    }

    /** {@code cmd} as root in namespace {@code netns} (null: this one). */
    public static Run root(String netns, long timeoutSeconds, String... cmd) {
        return run(netns, null, false, Map.of("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG", "C.UTF-8"),
                timeoutSeconds, List.of(cmd));
    }

    /** {@code cmd} as root in namespace {@code netns} with exactly {@code env}. */
    public static Run asRoot(String netns, Map<String, String> env, long timeoutSeconds, List<String> cmd) {
        return run(netns, null, false, env, timeoutSeconds, cmd);
    }

    /** {@code cmd} as the app's user in namespace {@code netns} with exactly {@code env}. */
    public static Run asAppUser(String netns, Map<String, String> env, long timeoutSeconds, List<String> cmd) {
        return run(netns, APP_USER, true, env, timeoutSeconds, cmd);
    }

    /**
     * {@code cmd} as {@code lab}'s app user in enclave-app with the app's environment. Under Enclave
     * with no new privileges, as 'enclave up' runs the app; the seed's user keeps them (its sudo works).
     */
    public static Run asApp(LabContext lab, long timeoutSeconds, List<String> cmd) {
        boolean enclave = !lab.design().equals(LabDesign.SEED);
        return run(LabAddresses.APP_NS, enclave ? APP_USER : lab.appUser(), enclave, lab.appEnvironment(), timeoutSeconds, cmd);
    }

    /** Like {@link #root} but a failure is an exception naming the command and its output. */
    public static String must(String netns, String... cmd) throws IOException {
        Run r = root(netns, 20, cmd);
        if (!r.ok()) {
            throw new IOException(String.join(" ", cmd) + (netns == null ? "" : " (in " + netns + ")") + " failed: " + r.firstLine());
        }
        return r.output();
    }

    private static Run run(String netns, String user, boolean noNewPrivs, Map<String, String> env, long timeoutSeconds, List<String> cmd) {
        List<String> full = new ArrayList<>();
        if (netns != null) {
            full.addAll(List.of(Nft.tool("ip"), "netns", "exec", netns));
        }
        if (user != null) {
            String[] ids;
            try {
                ids = ids(user);
            } catch (IOException e) {
                return new Run(-2, e.getMessage());
            }
            full.addAll(List.of(Nft.tool("setpriv"), "--reuid=" + ids[0], "--regid=" + ids[1], "--clear-groups"));
            if (noNewPrivs) {
                full.add("--no-new-privs");
            }
            full.add("--");
        }
        full.addAll(cmd);
        try {
            Path out = Files.createTempFile("enclave-lab", ".out");
            try {
                ProcessBuilder pb = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(out.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
                pb.environment().clear();
                pb.environment().putAll(env);
                Process p = pb.start();
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor(5, TimeUnit.SECONDS);
                    return new Run(-1, Files.readString(out, StandardCharsets.UTF_8) + "\n(killed after " + timeoutSeconds + " s)");
                }
                return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            return new Run(-2, "cannot run " + cmd.get(0) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Run(-2, "interrupted");
        }
    }

    /** The app user's uid and primary gid, by number. */
    public static String[] appIds() throws IOException {
        return ids(APP_USER);
    }

    static String[] ids(String user) throws IOException {
        for (String line : Files.readAllLines(Path.of("/etc/passwd"))) {
            String[] f = line.split(":");
            if (f.length > 3 && f[0].equals(user)) {
                return new String[] {f[2], f[3]};
            }
        }
        throw new IOException("no user " + user + " in /etc/passwd; add it (useradd --system --no-create-home " + user + ")");
    }
}
