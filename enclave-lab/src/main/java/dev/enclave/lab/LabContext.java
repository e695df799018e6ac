package dev.enclave.lab;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * What the checks need to know about a lab that is up: its directory, the design, the keys and the
 * gateway's login, as {@code lab up} wrote them to LAB/run/lab.properties (0600: it holds the
 * admin password and the org's fake LLM key).
 *
 * @param dir           the lab's state directory
 * @param design        the design that was built
 * @param orgKey        the LLM API key the organisation configured (a fake one, made by lab up)
 * @param keyFile       where the relay reads it from
 * @param adminUser     the gateway's user
 * @param adminPassword its password
 * @param supervisorPid the Enclave supervisor in enclave-pub
 * @param internetPid   the fake internet in enclave-net
 */
public record LabContext(Path dir, LabDesign design, String orgKey, Path keyFile, String adminUser, String adminPassword,
                         long supervisorPid, long internetPid) {

    public static Path stateFile(Path dir) {
        return dir.resolve("run").resolve("lab.properties");
    }

    /** The fake internet's records: every DNS query, every LLM API call. */
    public Path internetDir() {
        return dir.resolve("internet");
    }

    public Path dnsLog() {
        return internetDir().resolve("dns-queries.log");
    }

    public Path llmLog() {
        return internetDir().resolve("llm-calls.log");
    }

    /** The lab CA's certificate (world-readable: the app side trusts it). */
    public Path caPem() {
        return dir.resolve("pki").resolve("ca.pem");
    }

    /** Enclave's own state directory inside the lab's. */
    public Path enclaveState() {
        return dir.resolve("enclave");
    }

    /** The environment the app gets from 'enclave up' (AppLauncher), rebuilt here for the checks. */
    public Map<String, String> appEnvironment() {
        if (design.equals(LabDesign.SEED)) {
            // The seed's app: no proxy, the API by its own name and the key itself (from its unit file).
            Map<String, String> env = new LinkedHashMap<>();
            env.put("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
            env.put("HOME", "/tmp");
            env.put("LANG", "C.UTF-8");
            env.put("OPENAI_BASE_URL", "https://" + LabAddresses.LLM_NAME + "/v1");
            env.put("OPENAI_API_KEY", orgKey);
            // The lab's CA stands in for the public CAs the real host trusts.
            env.put("CURL_CA_BUNDLE", caPem().toString());
            env.put("SSL_CERT_FILE", caPem().toString());
            return env;
        }
        String proxy = "http://" + LabAddresses.PUB_PRIVATE + ":" + LabAddresses.EGRESS_PORT;
        String relay = "http://" + LabAddresses.PUB_PRIVATE + ":" + LabAddresses.RELAY_PORT + "/v1";
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        env.put("HOME", "/tmp");
        env.put("LANG", "C.UTF-8");
        for (String name : new String[] {"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"}) {
            env.put(name, proxy);
        }
        String noProxy = "localhost,127.0.0.1," + LabAddresses.PUB_PRIVATE;
        env.put("NO_PROXY", noProxy);
        env.put("no_proxy", noProxy);
        env.put("OPENAI_BASE_URL", relay);
        env.put("OPENAI_API_KEY", "sk-enclave-placeholder-the-relay-adds-the-real-key");
        return env;
    }

    /** The user the app runs as: nobody under Enclave ('enclave up'), the seed's dedicated user with sudo otherwise. */
    public String appUser() {
        return design.equals(LabDesign.SEED) ? LabAddresses.SEED_USER : LabShell.APP_USER;
    }

    public void write() throws IOException {
        Properties p = new Properties();
        p.setProperty("design", design.name());
        p.setProperty("org_key", orgKey);
        p.setProperty("key_file", keyFile.toString());
        p.setProperty("admin_user", adminUser);
        p.setProperty("admin_password", adminPassword);
        p.setProperty("supervisor_pid", Long.toString(supervisorPid));
        p.setProperty("internet_pid", Long.toString(internetPid));
        Path file = stateFile(dir);
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling("lab.properties.tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try (Writer w = Files.newBufferedWriter(tmp)) {
            p.store(w, "written by 'enclave lab up'; removed by 'enclave lab down'");
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** The lab that 'lab up' recorded in {@code dir}, or null when there is none. */
    public static LabContext read(Path dir) throws IOException {
        Path file = stateFile(dir);
        if (!Files.exists(file)) {
            return null;
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r);
        }
        try {
            return new LabContext(dir, LabDesign.named(p.getProperty("design")), p.getProperty("org_key"), Path.of(p.getProperty("key_file")),
                    p.getProperty("admin_user"), p.getProperty("admin_password"), Long.parseLong(p.getProperty("supervisor_pid")),
                    Long.parseLong(p.getProperty("internet_pid")));
        } catch (RuntimeException e) {
            throw new IOException(file + " is damaged (" + e.getMessage() + "); run 'enclave lab down' and 'enclave lab up'");
        }
    }
}
