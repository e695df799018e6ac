package dev.enclave.cli;

import dev.enclave.host.Nft;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Starts the app inside the namespace as an unprivileged user: {@code ip netns exec NS setpriv
 * --reuid --regid --clear-groups --no-new-privs -- COMMAND}. The app runs as {@code nobody} (an
 * account every Debian/Ubuntu host has and that owns no files), so it can neither change the
 * namespace's firewall (no CAP_NET_ADMIN) nor read Enclave's state (users file and keys are 0600 root).
 *
 * <p>Its environment is built from nothing, never inherited: the supervisor's own environment holds
 * the LLM key, the app's gets only PATH, HOME, LANG, the proxy variables and the relay's URL with a
 * placeholder key, which the relay throws away.
 */
final class AppLauncher {
    static final String APP_USER = "nobody";
    static final String PLACEHOLDER_KEY = "sk-enclave-placeholder-the-relay-adds-the-real-key";

    private AppLauncher() {
    }

    /** The command to run: app.command, or the built-in demo app on the app's address. */
    static List<String> appCommand(LocalTarget target) throws IOException {
        if (!target.config.appCommand().isEmpty()) {
            return target.config.appCommand();
        }
        Path jar = demoJar(target);
        InetSocketAddress at = target.appAddress();
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-Xmx96m", "-jar", jar.toString(),
                "demo-app", "--listen", at.getAddress().getHostAddress() + ":" + at.getPort());
    }

    /** The environment the app sees, and nothing else. */
    static Map<String, String> environment(LocalTarget target) {
        String host = target.namespace.hostAddress().getHostAddress();
        String proxy = "http://" + host + ":" + target.egressAddress().getPort();
        String relay = "http://" + host + ":" + target.config.llm().get(0).listen().getPort() + "/v1";
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", "/usr/local/bin:/usr/bin:/bin");
        env.put("HOME", home(target).toString());
        env.put("LANG", "C.UTF-8");
        for (String name : List.of("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")) {
            env.put(name, proxy);
        }
        // The relay is called directly, never through the proxy (which would refuse it: a private address).
        String noProxy = "localhost,127.0.0.1," + host;
        env.put("NO_PROXY", noProxy);
        env.put("no_proxy", noProxy);
        env.put("OPENAI_BASE_URL", relay);
        env.put("LLM_BASE_URL", relay);
        env.put("OPENAI_API_KEY", PLACEHOLDER_KEY);
        env.put("LLM_API_KEY", PLACEHOLDER_KEY);
        return env;
    }

    /** Starts the app; its output goes to STATE/logs/app.log. */
    static Process start(LocalTarget target) throws IOException {
        Files.createDirectories(target.appDir());
        target.appDir().toFile().setReadable(true, false);
        target.appDir().toFile().setExecutable(true, false);
        target.openPathToAppDir();
        Path home = home(target);
        Files.createDirectories(home);
        String[] ids = ids();
        // The app's own writable directory (HOME and working directory); nothing of Enclave's is in it.
        Files.setAttribute(home, "unix:uid", Integer.parseInt(ids[0]));
        Files.setAttribute(home, "unix:gid", Integer.parseInt(ids[1]));
        List<String> cmd = new ArrayList<>(List.of(Nft.tool("ip"), "netns", "exec", target.namespace.name(),
                Nft.tool("setpriv"), "--reuid=" + ids[0], "--regid=" + ids[1], "--clear-groups", "--no-new-privs", "--"));
        cmd.addAll(appCommand(target));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(home.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(target.logDir().resolve("app.log").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().clear();
        pb.environment().putAll(environment(target));
        return pb.start();
    }

    /** The app's HOME and working directory, owned by the app's user. */
    static Path home(LocalTarget target) {
        return target.appDir().resolve("home");
    }

    /** nobody's uid and primary gid (nogroup on Debian, nobody elsewhere), by number. */
    private static String[] ids() throws IOException {
        for (String line : Files.readAllLines(Path.of("/etc/passwd"))) {
            String[] f = line.split(":");
            if (f.length > 3 && f[0].equals(APP_USER)) {
                return new String[] {f[2], f[3]};
            }
        }
        throw new IOException("no user " + APP_USER + " in /etc/passwd; add it (useradd --system --no-create-home nobody)");
    }

    /**
     * The jar, copied to STATE/app where the app's user can read it (the build tree may sit in a
     * home directory nobody cannot enter). Copied again only when it changed.
     */
    private static Path demoJar(LocalTarget target) throws IOException {
        Path self;
        try {
            self = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IOException("cannot find Enclave's own jar: " + e.getMessage());
        }
        if (!Files.isRegularFile(self)) {
            throw new IOException("the built-in demo app runs from enclave.jar, not from " + self + "; build it (./mvnw -DskipTests package) or set app.command");
        }
        Path copy = target.appDir().resolve("enclave.jar");
        if (!Files.exists(copy) || Files.size(copy) != Files.size(self)
                || !Files.getLastModifiedTime(copy).equals(Files.getLastModifiedTime(self))) {
            Files.copy(self, copy, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
            copy.toFile().setReadable(true, false);
        }
        return copy;
    }
}
