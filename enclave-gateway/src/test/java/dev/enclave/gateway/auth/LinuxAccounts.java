package dev.enclave.gateway.auth;

import static dev.enclave.gateway.testing.HostCommand.quietly;
import static dev.enclave.gateway.testing.HostCommand.run;
import static dev.enclave.gateway.testing.HostCommand.tool;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Throwaway Linux accounts and a PAM service for tests, removed again by {@link #close()}: a
 * service file {@code /etc/pam.d/enclave-test-XXXX} using pam_unix, accounts made with
 * {@code useradd} (no home, no login shell) and passwords set with {@code chpasswd}. Names carry a
 * random suffix so parallel runs on one machine do not meet. Needs root: {@link #create()} skips
 * the test otherwise.
 */
public final class LinuxAccounts implements AutoCloseable {
    private final String suffix = randomSuffix();
    private final Path serviceFile = Path.of("/etc/pam.d/enclave-test-" + suffix);
    private final List<String> users = new ArrayList<>();
    private final List<String> groups = new ArrayList<>();

    private LinuxAccounts() {
    }

    /** Skips the calling test unless it runs as root with the shadow tools at hand. */
    public static LinuxAccounts create() throws IOException, InterruptedException {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "needs root: writes a PAM service to /etc/pam.d and adds Linux accounts (CI runs as root)");
        for (String tool : List.of("useradd", "userdel", "usermod", "groupadd", "groupdel", "chpasswd")) {
            assumeTrue(tool(tool) != null, "needs " + tool + " (Debian package passwd)");
        }
        assumeTrue(Files.isDirectory(Path.of("/etc/pam.d")), "needs Linux-PAM (/etc/pam.d)");
        LinuxAccounts a = new LinuxAccounts();
        // Exactly what an operator would write for the gateway; pam_unix reads /etc/shadow (we are root).
        Files.writeString(a.serviceFile, "auth required pam_unix.so\naccount required pam_unix.so\n", StandardCharsets.US_ASCII);
        return a;
    }

    /** The PAM service name, i.e. the file name under /etc/pam.d. */
    public String service() {
        return serviceFile.getFileName().toString();
    }

    /** A new group named {@code enct<role><suffix>}. */
    public String group(String role) throws IOException, InterruptedException {
        String name = "enct" + role + suffix;
        run(null, "groupadd", name);
        groups.add(name);
        return name;
    }

    /** A new account {@code enct<role><suffix>} with this password, in {@code groups} (may be empty). */
    public String user(String role, String password, String... inGroups) throws IOException, InterruptedException {
        String name = "enct" + role + suffix;
        List<String> cmd = new ArrayList<>(List.of("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin"));
        if (inGroups.length > 0) {
            cmd.add("--groups");
            cmd.add(String.join(",", inGroups));
        }
        cmd.add(name);
        run(null, cmd.toArray(String[]::new));
        users.add(name);
        run(name + ":" + password + "\n", "chpasswd");
        return name;
    }

    /** {@code usermod} with these arguments, e.g. {@code -L} (lock) or {@code -e 1970-01-02} (expire). */
    public void usermod(String user, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("usermod"));
        cmd.addAll(List.of(args));
        cmd.add(user);
        run(null, cmd.toArray(String[]::new));
    }

    @Override
    public void close() {
        // Every step is tried even when an earlier one fails, so nothing is left behind.
        for (String u : users) {
            quietly("userdel", u);
        }
        for (String g : groups) {
            quietly("groupdel", g);
        }
        try {
            Files.deleteIfExists(serviceFile);
        } catch (IOException e) {
            throw new IllegalStateException("could not remove " + serviceFile, e);
        }
    }


    private static String randomSuffix() {
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }


}
