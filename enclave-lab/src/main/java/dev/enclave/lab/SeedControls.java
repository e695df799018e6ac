package dev.enclave.lab;

import static dev.enclave.lab.LabAddresses.APP_NS;
import static dev.enclave.lab.LabAddresses.PUB_NS;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * The seed guide's controls in place of Enclave's, once 'enclave up' has made the app's namespace:
 * Enclave's two firewall tables removed (nothing of Enclave's stays on the app's way out), a NAT
 * gateway in enclave-pub (masquerade, and the security group's "no new connections in"), the app's
 * resolver, the seed's user with sudo, the key in a unit file, and the seed's own
 * {@code restrict_network.sh} run in enclave-app. {@link #remove} undoes what lives outside the
 * lab's namespaces: the user, its sudoers file and the namespace's resolv.conf.
 */
public final class SeedControls {
    /** The one sudoers file the lab writes; lab down removes it. */
    public static final Path SUDOERS = Path.of("/etc/sudoers.d", LabAddresses.SEED_USER);
    /** What ip netns exec bind-mounts over /etc/resolv.conf in enclave-app: the seed's VPC resolver. */
    public static final Path RESOLV_DIR = Path.of("/etc/netns", APP_NS);
    private static final String MARK = "# written by 'enclave lab up --design seed'; 'enclave lab down' removes it";

    private SeedControls() {
    }

    /** Where the seed keeps the key: its systemd unit's Environment= line (a 0644 file, as units are). */
    public static Path unitFile(Path labDir) {
        return labDir.resolve("seed").resolve("openhands.service");
    }

    public static Path script(Path labDir) {
        return labDir.resolve("seed").resolve("restrict_network.sh");
    }

    public static Path savedRules(Path labDir) {
        return labDir.resolve("seed").resolve("rules.v4");
    }

    /**
     * The seed's restrict_network.sh, verbatim but for one line: iptables-save writes into the lab's
     * directory instead of /etc/iptables/rules.v4 (the lab does not touch the host's /etc/iptables).
     */
    public static String restrictNetwork(Path labDir) {
        return "#!/bin/bash\n"
                + "# Restrict to LLM endpoints only\n"
                + "OPENAI_IPS=$(dig +short api.openai.com | grep -E '^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$')\n"
                + "\n"
                + "sudo iptables -F OUTPUT\n"
                + "sudo iptables -P OUTPUT DROP\n"
                + "sudo iptables -A OUTPUT -o lo -j ACCEPT\n"
                + "sudo iptables -A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
                + "sudo iptables -A OUTPUT -d 10.0.0.2 -p udp --dport 53 -j ACCEPT\n"
                + "sudo iptables -A OUTPUT -p udp --dport 123 -j ACCEPT\n"
                + "\n"
                + "for ip in $OPENAI_IPS; do\n"
                + "    sudo iptables -A OUTPUT -d $ip -p tcp --dport 443 -j ACCEPT\n"
                + "done\n"
                + "\n"
                + "# lab: the seed writes /etc/iptables/rules.v4\n"
                + "sudo iptables-save > " + savedRules(labDir) + "\n"
                + "echo \"Network restrictions applied\"\n";
    }

    /** Puts the seed's controls in place; returns the unit file holding the key. */
    public static Path apply(Path labDir, String orgKey) throws IOException {
        for (String[] t : new String[][] {{"sudo", "sudo"}, {"useradd", "passwd"}, {"iptables", "iptables"}}) {
            if (dev.enclave.host.Nft.tool(t[0]).indexOf('/') < 0) {
                throw new IOException(t[0] + " not found; the seed design needs it: apt-get install -y " + t[1]);
            }
        }
        if (Files.exists(SUDOERS) || LabShell.root(null, 5, "id", "-u", LabAddresses.SEED_USER).ok()) {
            throw new IOException("user " + LabAddresses.SEED_USER + " or " + SUDOERS + " exists already; run 'enclave lab down' first");
        }
        // Nothing of Enclave's on the app's way out: its table in enclave-app, its host-side table in enclave-pub.
        LabShell.root(APP_NS, 10, "nft", "delete", "table", "inet", "enclave");
        String tables = LabShell.root(PUB_NS, 10, "nft", "list", "tables").output();
        for (String line : tables.lines().toList()) {
            String[] f = line.strip().split("\\s+");
            if (f.length == 3 && f[0].equals("table") && f[2].startsWith("enclave_host_")) {
                LabShell.must(PUB_NS, "nft", "delete", "table", f[1], f[2]);
            }
        }
        // The NAT gateway for the private subnet, and the security group: nothing new comes in from the internet.
        LabShell.must(PUB_NS, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.0.1.0/24", "-o", LabAddresses.PUB_LINK, "-j", "MASQUERADE");
        LabShell.must(PUB_NS, "iptables", "-A", "FORWARD", "-i", LabAddresses.PUB_LINK, "-d", "10.0.1.0/24", "-m", "conntrack",
                "--ctstate", "NEW", "-j", "DROP");
        // The VPC resolver, as the app host's /etc/resolv.conf names it.
        Files.createDirectories(RESOLV_DIR);
        Files.writeString(RESOLV_DIR.resolve("resolv.conf"), MARK + "\nnameserver " + LabAddresses.RESOLVER + "\n");
        // The seed's user (openhands there), who runs restrict_network.sh with sudo: sudo for everything.
        LabShell.must(null, "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                LabAddresses.SEED_USER);
        Path tmp = SUDOERS.resolveSibling("." + LabAddresses.SEED_USER + ".tmp");
        Files.writeString(tmp, MARK + "\n" + LabAddresses.SEED_USER + " ALL=(ALL) NOPASSWD: ALL\n");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("r--r-----"));
        Files.move(tmp, SUDOERS);
        // The key where the seed puts it: the service's unit file (sed into Environment=OPENAI_API_KEY=...).
        Path seed = labDir.resolve("seed");
        Files.createDirectories(seed);
        Files.setPosixFilePermissions(seed, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path unit = unitFile(labDir);
        Files.writeString(unit, "[Unit]\nDescription=OpenHands AI Agent\nAfter=network.target\n\n[Service]\nType=simple\nUser=openhands\n"
                + "Environment=OPENAI_API_KEY=" + orgKey + "\nExecStart=/home/openhands/start_openhands.sh\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(unit, PosixFilePermissions.fromString("rw-r--r--"));
        Path script = script(labDir);
        Files.writeString(script, restrictNetwork(labDir), StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        LabShell.Run applied = LabShell.root(APP_NS, 30, "bash", script.toString());
        if (!applied.ok() || !applied.output().contains("Network restrictions applied")) {
            throw new IOException("restrict_network.sh failed in " + APP_NS + ": " + applied.lastLine());
        }
        String rules = LabShell.must(APP_NS, "iptables", "-S", "OUTPUT");
        if (!rules.contains("-d " + LabAddresses.LLM_API + "/32 -p tcp -m tcp --dport 443 -j ACCEPT")) {
            throw new IOException("restrict_network.sh pinned no address for " + LabAddresses.LLM_NAME + " (dig found none?): " + rules.strip());
        }
        return unit;
    }

    /** The seed's OUTPUT rules again, as restrict_network.sh saved them (after a check flushed them). */
    public static void restore(Path labDir) throws IOException {
        LabShell.must(APP_NS, "sh", "-c", "iptables-restore < " + savedRules(labDir));
    }

    /** Removes the user, its sudoers file and enclave-app's resolv.conf; returns what it removed. */
    public static List<String> remove() {
        List<String> removed = new ArrayList<>();
        try {
            if (Files.deleteIfExists(SUDOERS)) {
                removed.add(SUDOERS.toString());
            }
        } catch (IOException e) {
            removed.add(SUDOERS + " NOT removed: " + e.getMessage());
        }
        if (LabShell.root(null, 5, "id", "-u", LabAddresses.SEED_USER).ok()) {
            LabShell.Run del = LabShell.root(null, 20, "userdel", LabAddresses.SEED_USER);
            removed.add(del.ok() ? "user " + LabAddresses.SEED_USER : "user " + LabAddresses.SEED_USER + " NOT removed: " + del.firstLine());
        }
        Path resolv = RESOLV_DIR.resolve("resolv.conf");
        try {
            if (Files.exists(resolv) && Files.readString(resolv).startsWith(MARK)) {
                Files.delete(resolv);
                removed.add(resolv.toString());
                for (Path d : List.of(RESOLV_DIR, RESOLV_DIR.getParent())) {
                    try (var left = Files.list(d)) {
                        if (left.findAny().isEmpty()) {
                            Files.delete(d);
                        }
                    }
                }
            }
        } catch (IOException e) {
            removed.add(resolv + " NOT removed: " + e.getMessage());
        }
        return removed;
    }
}
