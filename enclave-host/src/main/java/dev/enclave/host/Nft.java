package dev.enclave.host;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs nft, on this host or inside a named network namespace ({@code ip netns exec NAME nft}),
 * and turns its failures into one line naming the fix ({@link #exec} also runs {@code ip} for the
 * app namespace). Scripts go to nft on standard input
 * ({@code nft -f -}), so nothing is written to disk.
 */
public final class Nft {
    private static final long TIMEOUT_SECONDS = 20;
    /** nft's exit status and everything it printed (standard output and error together). */
    public record Result(int exit, String output) {
    }

    private final List<String> prefix;
    private final String netns;

    private Nft(List<String> prefix, String netns) {
        this.prefix = List.copyOf(prefix);
        this.netns = netns;
    }

    /** nft on this host, or in network namespace {@code netns} when it is not null. */
    static Nft of(String netns) {
        if (netns == null) {
            return new Nft(List.of(tool("nft")), null);
        }
        return new Nft(List.of(tool("ip"), "netns", "exec", netns, tool("nft")), netns);
    }

    /** Runs a script as one transaction; throws with nft's own reason when it refuses. */
    void script(String script, String doing) throws HostFirewallException {
        Result r = run(List.of("-f", "-"), script);
        if (r.exit() != 0) {
            throw failure(r.output(), doing);
        }
    }

    /** {@code nft ARGS}; a non-zero exit is returned, not thrown, unless it means nft cannot work here at all. */
    Result run(List<String> args, String stdin) throws HostFirewallException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(args);
        return exec(cmd, stdin, netns);
    }

    /** Runs {@code cmd}; failures that no retry fixes (tool missing, not permitted, no such namespace) are thrown. */
    public static Result exec(List<String> cmd, String stdin, String netns) throws HostFirewallException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            String tool = Path.of(cmd.get(0)).getFileName().toString();
            String pkg = tool.equals("nft") ? "nftables" : tool.equals("ip") ? "iproute2" : "util-linux";
            throw new HostFirewallException(tool + " not found (" + e.getMessage() + "); install it: apt install " + pkg);
        }
        String out;
        try {
            try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                // the command stopped reading; its output says why
            }
            try (InputStream o = p.getInputStream()) {
                out = new String(o.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new HostFirewallException(String.join(" ", cmd) + " did not finish within " + TIMEOUT_SECONDS + " s; check 'nft list ruleset' by hand");
            }
        } catch (IOException e) {
            p.destroyForcibly();
            throw new HostFirewallException(String.join(" ", cmd) + " failed (" + e.getMessage() + ")");
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new HostFirewallException("interrupted while running " + String.join(" ", cmd));
        }
        if (p.exitValue() != 0) {
            if (out.contains("Operation not permitted")) {
                throw new HostFirewallException("not permitted to change or read the firewall (Operation not permitted); "
                        + "run as root (sudo enclave host ...) or with CAP_NET_ADMIN");
            }
            if (netns != null && out.contains("Cannot open network namespace")) {
                throw new HostFirewallException("no network namespace '" + netns + "'; create it (ip netns add " + netns
                        + ") or drop --netns");
            }
        }
        return new Result(p.exitValue(), out);
    }

    /** A refusal by nft: its first error line without the location, and what was being done. */
    static HostFirewallException failure(String out, String doing) {
        String[] lines = out.split("\n");
        String reason = out.strip().isEmpty() ? "no message" : lines[0].strip();
        for (int i = 0; i < lines.length; i++) {
            int at = lines[i].indexOf("Error: ");
            if (at >= 0) {
                reason = lines[i].substring(at + 7).strip();
                if (i + 1 < lines.length && !lines[i + 1].isBlank()) {
                    reason += " (at: " + lines[i + 1].strip() + ")";
                }
                break;
            }
        }
        return new HostFirewallException("nft refused " + doing + ": " + reason + "; nothing was changed");
    }

    /** The tool's full path: root's PATH has /usr/sbin, a service's or a test runner's may not. */
    public static String tool(String name) {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(":")));
        }
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        for (String d : dirs) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, name))) {
                return Path.of(d, name).toString();
            }
        }
        return name;
    }
}
