package dev.enclave.cli;

import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.LlmConfig;
import dev.enclave.config.Target;
import dev.enclave.host.FirewallPlan;
import dev.enclave.host.HostRuleset;
import dev.enclave.host.HostSideRuleset;
import dev.enclave.host.Ruleset;
import dev.enclave.host.netns.AppNamespace;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The local target as {@code up}, {@code down} and {@code status} see it: the state directory's
 * layout, the effective config (the file given with {@code -c}, else {@code STATE/enclave.yaml},
 * written from the built-in defaults on first use), and the app namespace and firewall it implies.
 */
final class LocalTarget {
    static final Path DEFAULT_STATE = Path.of("/var/lib/enclave");

    /** The defaults: the gateway on every address, the app side on 10.77.1.0/24, no CONNECT allowlist. */
    static final String DEFAULT_CONFIG = """
            # Enclave's effective configuration, written by 'enclave up' from its built-in defaults.
            # Edit it, then 'enclave down && enclave up' to apply. 'enclave config check -c THIS_FILE' validates it.
            target: local
            gateway:
              listen: 0.0.0.0:8443
              upstream: http://10.77.1.2:3000          # the app, inside network namespace enclave-app
            egress:
              listen: 10.77.1.1:3128                    # the app's HTTPS_PROXY / HTTP_PROXY
              clients: [ 10.77.1.2/32 ]
              allow: []                                 # empty: the LLM is reached through the relay only
            llm:
              - preset: openai
                listen: 10.77.1.1:4000                  # the app's OPENAI_BASE_URL (with /v1)
                upstream: https://api.openai.com
                key: { env: ENCLAVE_LLM_API_KEY }       # or { file: /etc/enclave/llm-key } (mode 0600)
            """;

    final Path state;
    final Path configFile;
    final EnclaveConfig config;
    final AppNamespace namespace;
    /** The app side's table, inside the namespace. */
    final Ruleset ruleset;
    /** The host-side table on the veth's host end, out of reach of root inside the namespace. */
    final Ruleset hostSideRuleset;

    private LocalTarget(Path state, Path configFile, EnclaveConfig config, AppNamespace namespace, Ruleset ruleset,
                        Ruleset hostSideRuleset) {
        this.state = state;
        this.configFile = configFile;
        this.config = config;
        this.namespace = namespace;
        this.ruleset = ruleset;
        this.hostSideRuleset = hostSideRuleset;
    }

    /** {@code --state}, else {@code ENCLAVE_STATE_DIR}, else /var/lib/enclave. */
    static Path stateDir(Path flag) {
        if (flag != null) {
            return flag.toAbsolutePath();
        }
        String env = System.getenv("ENCLAVE_STATE_DIR");
        return env != null && !env.isBlank() ? Path.of(env).toAbsolutePath() : DEFAULT_STATE;
    }

    /** Where the config comes from: {@code -c FILE}, else STATE/enclave.yaml (written from the defaults when missing). */
    static Path configFile(Path state, Path flag) {
        return flag != null ? flag.toAbsolutePath() : state.resolve("enclave.yaml");
    }

    /**
     * Loads the target; with {@code writeDefaults}, a missing STATE/enclave.yaml is first written
     * from the defaults (and the state directory made). Every problem is a {@link UserError}.
     */
    static LocalTarget load(Path state, Path configFlag, String netnsName, boolean writeDefaults) {
        Path file = configFile(state, configFlag);
        if (configFlag == null && !Files.exists(file)) {
            if (!writeDefaults) {
                throw UserError.usage("no " + file + ": Enclave was never brought up with this state directory; run 'enclave up'");
            }
            try {
                makeStateDir(state);
                Files.writeString(file, DEFAULT_CONFIG, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw UserError.usage("cannot write " + file + ": " + e.getMessage() + "; check that " + state
                        + " is writable, or move the state with --state DIR");
            }
        }
        EnclaveConfig config;
        try {
            config = ConfigLoader.load(file);
        } catch (ConfigException e) {
            throw UserError.usage(String.join("; ", e.problems()));
        }
        return of(state, file, config, netnsName);
    }

    static LocalTarget of(Path state, Path file, EnclaveConfig config, String netnsName) {
        List<String> problems = new ArrayList<>();
        if (config.target() != Target.LOCAL) {
            problems.add(file + ": target: 'enclave up' runs the local target only; set target: local");
        }
        if (config.llm().isEmpty()) {
            problems.add(file + ": llm: missing; 'enclave up' starts the LLM relay the app reaches its LLM through, e.g. the llm: entry of the defaults ('enclave up' without -c writes them)");
        }
        Ruleset ruleset = null;
        FirewallPlan plan = null;
        try {
            plan = FirewallPlan.from(config);
            ruleset = HostRuleset.of(plan);
        } catch (ConfigException e) {
            problems.addAll(e.problems());
        }
        if (!problems.isEmpty()) {
            throw UserError.usage(String.join("; ", problems));
        }
        InetAddress hostSide = config.egress().listen().getAddress();
        for (int i = 0; i < config.llm().size(); i++) {
            LlmConfig llm = config.llm().get(i);
            if (!llm.listen().getAddress().equals(hostSide)) {
                problems.add(file + ": llm[" + i + "].listen: " + llm.listen().getAddress().getHostAddress()
                        + " is not the host side of the app namespace (egress.listen's " + hostSide.getHostAddress()
                        + "); listen on " + hostSide.getHostAddress() + ":" + llm.listen().getPort());
            }
        }
        if (!plan.gatewaySource().equals(hostSide)) {
            // The gateway reaches the app from the host side of the veth; the firewall must admit that address.
            problems.add(file + ": host.gateway_source: " + plan.gatewaySource().getHostAddress() + " is not the host side of the app namespace ("
                    + hostSide.getHostAddress() + ", egress.listen's address), so the firewall would keep the gateway out; set gateway_source: "
                    + hostSide.getHostAddress());
        }
        URI upstream = config.gateway().upstream();
        Inet4Address app = null;
        try {
            InetAddress a = InetAddress.getByName(upstream.getHost());
            if (a instanceof Inet4Address v4 && upstream.getHost().matches("[0-9.]+")) {
                app = v4;
            }
        } catch (UnknownHostException e) {
            // reported below
        }
        if (app == null) {
            problems.add(file + ": gateway.upstream: " + upstream + " must name the app by its IPv4 address in the namespace, e.g. http://10.77.1.2:3000");
        }
        if (!problems.isEmpty()) {
            throw UserError.usage(String.join("; ", problems));
        }
        AppNamespace namespace;
        try {
            namespace = AppNamespace.of(netnsName == null ? AppNamespace.DEFAULT_NAME : netnsName, (Inet4Address) hostSide, app);
        } catch (IllegalArgumentException e) {
            throw UserError.usage(file + ": egress.listen and gateway.upstream: " + e.getMessage());
        }
        return new LocalTarget(state, file, config, namespace, ruleset,
                HostSideRuleset.of(plan, namespace.name(), namespace.hostInterface()));
    }

    /** The state directory: made 0711 when new (others may pass through to STATE/app, never list it). */
    static void makeStateDir(Path state) throws IOException {
        if (!Files.isDirectory(state)) {
            Files.createDirectories(state);
            Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwx--x--x"));
        }
    }

    /** A directory only root may read: logs, audit and pids stay private although STATE lets others pass through. */
    static void makePrivateDir(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    }

    Path runDir() {
        return state.resolve("run");
    }

    /** Written once everything is up: the supervisor's pid and what status and down need. */
    Path upFile() {
        return runDir().resolve("up.properties");
    }

    Path logDir() {
        return state.resolve("logs");
    }

    Path auditDir() {
        return config.audit() != null && config.audit().dir() != null ? config.audit().dir() : state.resolve("audit");
    }

    /** The app's working and home directory, readable by the app's user. */
    Path appDir() {
        return state.resolve("app");
    }

    InetSocketAddress appAddress() {
        URI u = config.gateway().upstream();
        return new InetSocketAddress(namespace.appAddress(), u.getPort() == -1 ? 80 : u.getPort());
    }

    InetSocketAddress egressAddress() {
        return config.egress().listen();
    }

    /** Lets the app's user through the state directory to STATE/app (others: x only). */
    void openPathToAppDir() throws IOException {
        Set<PosixFilePermission> p = Files.getPosixFilePermissions(state);
        if (!p.contains(PosixFilePermission.OTHERS_EXECUTE)) {
            p.add(PosixFilePermission.OTHERS_EXECUTE);
            Files.setPosixFilePermissions(state, p);
        }
    }
}
