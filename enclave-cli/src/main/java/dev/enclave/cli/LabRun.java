package dev.enclave.cli;

import dev.enclave.host.Nft;
import dev.enclave.lab.LabAddresses;
import dev.enclave.lab.LabContext;
import dev.enclave.lab.LabDesign;
import dev.enclave.lab.LabShell;
import dev.enclave.lab.LabTopology;
import dev.enclave.lab.SeedControls;
import dev.enclave.lab.internet.FakeInternet;
import dev.enclave.lab.internet.LabCa;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Brings the lab up and down. Up: the lab CA and the fake internet's certificate, the org's (fake)
 * LLM key, the topology ({@link LabTopology}), the fake internet in enclave-net, then the design's
 * public and private sides in enclave-pub: for Enclave's design, {@code enclave up} itself, run
 * inside enclave-pub with the lab's config (so the lab tests exactly what a user runs). A failure at
 * any step removes everything again. Down tolerates any part being gone.
 *
 * <p>Layout of the lab's directory: {@code enclave.yaml}, {@code enclave/} (Enclave's own state:
 * users, certificate, audit, the key file, logs), {@code pki/} (ca.pem, readable by all; the
 * servers' key), {@code internet/} (DNS query and LLM call records), {@code logs/},
 * {@code run/} (lab.properties, 0600).
 */
final class LabRun {
    static final Path DEFAULT_DIR = Path.of("/var/lib/enclave-lab");
    private static final long INTERNET_READY_SECONDS = 30;
    private static final long UP_SECONDS = 180;

    private final Path dir;

    LabRun(Path dir) {
        this.dir = dir;
    }

    static Path labDir(Path flag) {
        if (flag != null) {
            return flag.toAbsolutePath();
        }
        String env = System.getenv("ENCLAVE_LAB_DIR");
        return env != null && !env.isBlank() ? Path.of(env).toAbsolutePath() : DEFAULT_DIR;
    }

    static LabDesign design(String name) {
        try {
            return LabDesign.named(name);
        } catch (IllegalArgumentException e) {
            throw UserError.usage("--design: " + e.getMessage());
        }
    }

    /** The lab that is up and running in this directory, or null when none is; a half-dead one is an error naming the fix. */
    LabContext running() throws IOException {
        Prerequisites.privileges("lab verify");
        LabContext lab = LabContext.read(dir);
        if (lab == null) {
            return null;
        }
        List<String> wrong = new ArrayList<>();
        for (String ns : List.of(LabAddresses.NET_NS, LabAddresses.PUB_NS, LabAddresses.APP_NS)) {
            if (!LabTopology.existing().contains(ns)) {
                wrong.add("namespace " + ns + " is gone");
            }
        }
        if (!ProcessHandle.of(lab.internetPid()).map(ProcessHandle::isAlive).orElse(false)) {
            wrong.add("the fake internet (pid " + lab.internetPid() + ") is not running");
        }
        if (!ProcessHandle.of(lab.supervisorPid()).map(ProcessHandle::isAlive).orElse(false)) {
            wrong.add("the Enclave supervisor (pid " + lab.supervisorPid() + ") is not running");
        }
        if (!wrong.isEmpty()) {
            throw UserError.usage("the lab in " + dir + " is broken (" + String.join("; ", wrong)
                    + "); run 'enclave lab down' and 'enclave lab up'");
        }
        return lab;
    }

    LabContext up(LabDesign design) throws IOException, InterruptedException {
        Prerequisites.privileges("lab up");
        Prerequisites.tools();
        for (String[] t : new String[][] {{"nsenter", "util-linux"}, {"curl", "curl"}, {"dig", "bind9-dnsutils"}, {"wget", "wget"},
                {"socat", "socat"}, {"ping", "iputils-ping"}, {"sysctl", "procps"}, {"iptables", "iptables"}}) {
            if (Nft.tool(t[0]).indexOf('/') < 0) {
                throw UserError.usage(t[0] + " not found; the lab's checks need it: apt-get install -y " + t[1]);
            }
        }
        if (java.nio.file.Files.exists(Path.of("/sys/class/net", "ve-" + LabAddresses.APP_NS))) {
            throw UserError.usage("'enclave up' (the local target) runs on this host in namespace " + LabAddresses.APP_NS
                    + ", which the lab needs too; stop it with 'enclave down' first");
        }
        if (LabContext.read(dir) != null || !LabTopology.existing().isEmpty()) {
            List<String> ns = LabTopology.existing();
            throw UserError.usage("a lab is already up" + (ns.isEmpty() ? " in " + dir : " (namespaces " + String.join(", ", ns) + ")")
                    + "; 'enclave lab verify' checks it, 'enclave lab down' removes it");
        }
        try {
            return build(design);
        } catch (IOException | RuntimeException | InterruptedException e) {
            String why = e instanceof UserError || e instanceof IOException ? e.getMessage() : e.toString();
            try {
                down(false);
            } catch (RuntimeException again) {
                why += "; cleaning up also failed: " + again.getMessage();
            }
            throw UserError.usage("lab up failed: " + why + "; everything it made was removed (logs in " + logs() + ")");
        }
    }

    private LabContext build(LabDesign design) throws IOException, InterruptedException {
        makeDir(dir, "rwx--x--x");
        makeDir(dir.resolve("run"), "rwx------");
        makeDir(logs(), "rwx------");
        makeDir(dir.resolve("pki"), "rwxr-xr-x");
        // Every up starts from nothing: no users, bans, sessions or records of an earlier lab.
        deleteTree(dir.resolve("internet"));
        deleteTree(dir.resolve("enclave"));
        makeDir(dir.resolve("internet"), "rwx------");
        LocalTarget.makeStateDir(dir.resolve("enclave"));
        List<String> names = new ArrayList<>(LabAddresses.names().keySet());
        LabCa.create(dir.resolve("pki").resolve("ca.pem"), dir.resolve("pki").resolve("internet.p12"), names);
        byte[] random = new byte[16];
        new SecureRandom().nextBytes(random);
        String orgKey = "sk-lab-org-" + HexFormat.of().formatHex(random);
        Path keyFile = dir.resolve("enclave").resolve("llm-key");
        Files.createFile(keyFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(keyFile, orgKey + "\n");
        Path config = dir.resolve("enclave.yaml");
        Files.writeString(config, enclaveConfig(keyFile), StandardCharsets.UTF_8);

        LabTopology.create();
        long internet = startInternet();
        String password = enclaveUp(config);
        long supervisor = UpState.read(dir.resolve("enclave")).map(UpState::pid)
                .orElseThrow(() -> new IOException("enclave up reported success but wrote no " + dir.resolve("enclave/run/up.properties")));
        LabTopology.routeApp(design.appRoutedOut());
        LabTopology.container();
        if (design.equals(LabDesign.SEED)) {
            // The seed's app side in place of Enclave's; the key the checks look for is then the unit file's.
            keyFile = SeedControls.apply(dir, orgKey);
        }
        LabContext lab = new LabContext(dir, design, orgKey, keyFile, AdminUser.NAME, password, supervisor, internet);
        lab.write();
        return lab;
    }

    /** Enclave's config for the lab: the defaults' shape on the seed's addresses, the lab's resolver and CA. */
    private String enclaveConfig(Path keyFile) {
        String pub = LabAddresses.PUB_PRIVATE;
        return "# Written by 'enclave lab up': Enclave's design in the lab (enclave-pub is the public host).\n"
                + "target: local\n"
                + "gateway:\n"
                + "  listen: 0.0.0.0:" + LabAddresses.GATEWAY_PORT + "\n"
                + "  redirect_http: 0.0.0.0:" + LabAddresses.REDIRECT_PORT + "\n"
                + "  upstream: http://" + LabAddresses.APP + ":" + LabAddresses.APP_PORT + "\n"
                + "egress:\n"
                + "  listen: " + pub + ":" + LabAddresses.EGRESS_PORT + "\n"
                + "  clients: [ " + LabAddresses.APP + "/32 ]\n"
                + "  allow: []\n"
                + "  resolver: " + LabAddresses.RESOLVER + ":53        # the lab internet's resolver\n"
                + "llm:\n"
                + "  - preset: openai\n"
                + "    listen: " + pub + ":" + LabAddresses.RELAY_PORT + "\n"
                + "    upstream: https://" + LabAddresses.LLM_NAME + "\n"
                + "    key: { file: " + keyFile + " }\n"
                + "    # The lab's fake API sits in a documentation range (TEST-NET-3), which the relay refuses by default;\n"
                + "    # the whole range, as a provider's, so that the API may change its address within it.\n"
                + "    allow_cidr: [ 203.0.113.0/24 ]\n"
                + "    ca: " + dir.resolve("pki").resolve("ca.pem") + "\n"
                + "host:\n"
                + "  gateway_source: " + pub + "                # the gateway reaches the app from enclave-pub's private end\n";
    }

    /** The fake internet, in its own session inside enclave-net; returns its pid once every server listens. */
    private long startInternet() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Nft.tool("nsenter"), "--net=/run/netns/" + LabAddresses.NET_NS, "--",
                Nft.tool("setsid")));
        cmd.addAll(java());
        cmd.addAll(List.of("-Xmx128m", "-XX:+UseSerialGC", FakeInternet.class.getName(), dir.toString()));
        Path log = logs().resolve("internet.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        Path ready = dir.resolve("internet").resolve("ready");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(INTERNET_READY_SECONDS);
        while (!Files.exists(ready)) {
            if (!p.isAlive()) {
                throw new IOException("the fake internet exited (" + p.exitValue() + "): " + lastLine(log));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the fake internet did not start within " + INTERNET_READY_SECONDS + " s; see " + log);
            }
            Thread.sleep(50); // polling its readiness file
        }
        return Long.parseLong(Files.readString(ready).strip());
    }

    /** {@code enclave up} inside enclave-pub; returns the admin password it printed. */
    private String enclaveUp(Path config) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Nft.tool("nsenter"), "--net=/run/netns/" + LabAddresses.PUB_NS, "--"));
        cmd.addAll(java());
        cmd.addAll(List.of(Main.class.getName(), "up", "--state", dir.resolve("enclave").toString(), "-c", config.toString()));
        Path log = logs().resolve("up.log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().remove("ENCLAVE_LLM_API_KEY");
        pb.environment().remove("ENCLAVE_STATE_DIR");
        Process p = pb.start();
        if (!p.waitFor(UP_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("enclave up in " + LabAddresses.PUB_NS + " did not finish within " + UP_SECONDS + " s; see " + log);
        }
        String out = Files.readString(log);
        if (p.exitValue() != 0) {
            throw new IOException("enclave up in " + LabAddresses.PUB_NS + " failed (exit " + p.exitValue() + "): " + lastLine(log));
        }
        String marker = "created user " + AdminUser.NAME + " with password ";
        int at = out.indexOf(marker);
        if (at < 0) {
            throw new IOException("enclave up in " + LabAddresses.PUB_NS + " printed no admin password; see " + log);
        }
        String password = out.substring(at + marker.length()).lines().findFirst().orElse("").strip();
        // The log stays, without the password (it is in run/lab.properties, 0600).
        Files.writeString(log, out.replace(password, "(in run/lab.properties)"));
        return password;
    }

    void down() {
        Prerequisites.privileges("lab down");
        down(true);
    }

    private void down(boolean report) {
        List<String> removed = new ArrayList<>();
        Path enclave = dir.resolve("enclave");
        Optional<UpState> up = UpState.read(enclave);
        if (up.isPresent() && up.get().supervisorAlive()) {
            ProcessHandle supervisor = ProcessHandle.of(up.get().pid()).orElseThrow();
            supervisor.destroy(); // SIGTERM: it stops the app, gateway, relay and proxy and removes enclave-app
            try {
                supervisor.onExit().get(30, TimeUnit.SECONDS);
                removed.add("Enclave supervisor (pid " + up.get().pid() + ") stopped");
            } catch (Exception e) {
                supervisor.destroyForcibly();
                removed.add("Enclave supervisor (pid " + up.get().pid() + ") killed");
            }
        }
        try {
            Files.deleteIfExists(enclave.resolve("run").resolve("up.properties"));
        } catch (IOException e) {
            removed.add("could not remove " + enclave.resolve("run/up.properties") + ": " + e.getMessage());
        }
        removed.addAll(LabTopology.destroy());
        removed.addAll(SeedControls.remove());
        for (String f : List.of("run/lab.properties", "run/next-attacker", "internet/ready")) {
            try {
                Files.deleteIfExists(dir.resolve(f));
            } catch (IOException e) {
                removed.add("could not remove " + dir.resolve(f) + ": " + e.getMessage());
            }
        }
        if (report) {
            System.out.println(removed.isEmpty() ? "enclave lab: nothing was up (" + dir + ")"
                    : "enclave lab: down: " + String.join("; ", removed) + "; logs kept in " + logs());
        }
    }

    private Path logs() {
        return dir.resolve("logs");
    }

    /** This JVM's java, flags and class path, to start the lab's other processes from the same build. */
    private static List<String> java() {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        return cmd;
    }

    private static String lastLine(Path log) throws IOException {
        return Files.exists(log) ? Files.readAllLines(log).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("(no output)").strip()
                : "(no log)";
    }

    private static void makeDir(Path d, String mode) throws IOException {
        Files.createDirectories(d);
        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString(mode));
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
