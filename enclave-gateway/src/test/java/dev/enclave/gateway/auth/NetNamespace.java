package dev.enclave.gateway.auth;

import static dev.enclave.gateway.testing.HostCommand.run;
import static dev.enclave.gateway.testing.HostCommand.tool;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A throwaway network namespace ({@code enclave-test-XXXXXX}, loopback up) whose nftables ruleset
 * a test may change without touching the machine's. Needs root and the nft and ip commands;
 * {@link #create} skips the test with the reason otherwise. {@link #close} removes it.
 */
final class NetNamespace implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    final String name;

    private NetNamespace(String name) {
        this.name = name;
    }

    static NetNamespace create() throws IOException, InterruptedException {
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "needs root: creates a network namespace and sets nftables rules in it (CI runs as root)");
        assumeTrue(tool("nft") != null, "needs nft (Debian package nftables)");
        assumeTrue(tool("ip") != null, "needs ip (Debian package iproute2)");
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        NetNamespace ns = new NetNamespace("enclave-test-" + HexFormat.of().formatHex(b));
        run(null, "ip", "netns", "add", ns.name);
        try {
            ns.exec("ip", "link", "set", "lo", "up");
        } catch (RuntimeException | AssertionError e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    /** The command prefix that runs nft inside this namespace. */
    List<String> nftCommand() {
        return List.of(tool("ip"), "netns", "exec", name, tool("nft"));
    }

    /** Runs {@code cmd} inside the namespace; its output, or an AssertionError with it when it fails. */
    String exec(String... cmd) throws IOException, InterruptedException {
        return execWithInput(null, cmd);
    }

    String execWithInput(String input, String... cmd) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(cmd));
        return run(input, full.toArray(String[]::new));
    }

    /** Applies an nft script inside the namespace. */
    void nft(String script) throws IOException, InterruptedException {
        execWithInput(script, "nft", "-f", "-");
    }

    /** {@code nft -j list table inet NAME} parsed, or null when there is no such table. */
    JsonNode table(String name) throws IOException, InterruptedException {
        String ruleset = exec("nft", "-j", "list", "ruleset");
        for (JsonNode n : JSON.readTree(ruleset).path("nftables")) {
            if (n.has("table") && n.get("table").path("family").asText().equals("inet")
                    && n.get("table").path("name").asText().equals(name)) {
                return JSON.readTree(exec("nft", "-j", "list", "table", "inet", name));
            }
        }
        return null;
    }

    /** {@code nft list ruleset} as text. */
    String ruleset() throws IOException, InterruptedException {
        return exec("nft", "list", "ruleset");
    }

    @Override
    public void close() throws IOException, InterruptedException {
        run(null, "ip", "netns", "delete", name);
    }


}
