package dev.enclave.cli;

import dev.enclave.audit.AuditLog;
import dev.enclave.config.EgressConfig;
import dev.enclave.config.LlmConfig;
import dev.enclave.egress.EgressServer;
import dev.enclave.egress.relay.RelayBudget;
import dev.enclave.egress.relay.RelayKey;
import dev.enclave.egress.relay.RelayKeyException;
import dev.enclave.egress.relay.RelayKeyFile;
import dev.enclave.egress.relay.RelayKeySource;
import dev.enclave.egress.relay.RelayPreset;
import dev.enclave.egress.relay.RelayRoute;
import dev.enclave.egress.relay.RelayServer;
import dev.enclave.egress.relay.RelaySettings;
import dev.enclave.egress.relay.UsageObserver;
import dev.enclave.gateway.GatewayServer;
import dev.enclave.gateway.GatewaySettings;
import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.host.HostFirewall;
import dev.enclave.host.HostFirewallException;
import dev.enclave.host.Nft;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * The supervisor's work: bring the local target up in order (namespace, firewall inside it, egress
 * proxy, LLM relays, gateway, app), and down in the reverse order. Start is all or nothing: a step
 * that fails undoes every step before it, so a failed {@code up} leaves no namespace, veth, table,
 * listener or process behind.
 */
final class LocalDeployment implements AutoCloseable {
    /** One thing that was made, and how to unmake it. */
    private interface Undo {
        void run() throws Exception;
    }

    private static final long APP_READY_SECONDS = 60;

    private final LocalTarget target;
    private final PrintStream out;
    private final Deque<Undo> undo = new ArrayDeque<>();
    private final List<String> parts = new ArrayList<>();
    private Process app;

    LocalDeployment(LocalTarget target, PrintStream out) {
        this.target = target;
        this.out = out;
    }

    /** Brings everything up; on failure undoes what was made and throws one line naming the fix. */
    void start() {
        try {
            for (Path dir : List.of(target.runDir(), target.logDir(), target.auditDir())) {
                LocalTarget.makePrivateDir(dir);
            }
            target.namespace.create();
            undo.push(target.namespace::destroy);
            // The host-side table first: it holds even if root inside the namespace flushes the one in there.
            HostFirewall hostSide = HostFirewall.of(null);
            hostSide.apply(target.hostSideRuleset);
            undo.push(() -> hostSide.remove(target.hostSideRuleset.table()));
            HostFirewall firewall = HostFirewall.of(target.namespace.name());
            firewall.apply(target.ruleset);
            parts.add("firewall: table inet enclave applied in network namespace " + target.namespace.name()
                    + ", table inet " + target.hostSideRuleset.table() + " on " + target.namespace.hostInterface() + " in the host's");
            startEgress();
            startRelays();
            startGateway();
            startApp();
        } catch (HostFirewallException | IOException | UserFileException e) {
            undoAll();
            throw UserError.usage(e.getMessage());
        } catch (InterruptedException e) {
            undoAll();
            Thread.currentThread().interrupt();
            throw UserError.usage("interrupted while starting; everything started was stopped again");
        } catch (RuntimeException e) {
            undoAll();
            throw e;
        }
    }

    /** What was started, one line each, for the operator. */
    List<String> parts() {
        return List.copyOf(parts);
    }

    long appPid() {
        return app.pid();
    }

    private void startEgress() throws IOException, InterruptedException {
        EgressCommand flags = new EgressCommand();
        flags.configFile = target.configFile;
        EgressConfig config = flags.effectiveConfig();
        AuditLog log = audit("egress.log");
        EgressServer server = new EgressServer(config, log);
        InetSocketAddress bound = startOrExplain(server::start, config.listen(), "egress proxy", "egress.listen");
        undo.push(server::close);
        parts.add("egress: proxy on " + address(bound) + ", CONNECT allowlist " + (config.allow().isEmpty() ? "empty" : config.allow().toString()));
    }

    /** One relay listener per listen address; entries that share one are routed by their (disjoint) paths. */
    private void startRelays() throws IOException, InterruptedException {
        List<LlmConfig> llm = target.config.llm();
        Map<InetSocketAddress, List<Integer>> byListener = new LinkedHashMap<>();
        for (int i = 0; i < llm.size(); i++) {
            byListener.computeIfAbsent(llm.get(i).listen(), a -> new ArrayList<>()).add(i);
        }
        if (byListener.isEmpty()) {
            return;
        }
        AuditLog log = audit("relay.log");
        for (List<Integer> group : byListener.values()) {
            List<RelayServer.Entry> entries = new ArrayList<>();
            List<String> notes = new ArrayList<>();
            for (int index : group) {
                LlmConfig entry = llm.get(index);
                List<RelayRoute> routes = new ArrayList<>();
                for (String p : entry.paths()) {
                    routes.add(new RelayRoute(p, RelayRoute.CUSTOM_METHODS));
                }
                // The relay asks the egress proxy's resolver (egress.resolver; the system's when unset): one source of answers for everything that leaves.
                RelaySettings settings = new RelaySettings(entry.listen(), entry.upstream(), RelayPreset.parse(entry.preset()),
                        routes, entry.resolve(), entry.allowCidr(), target.config.egress().resolver(), entry.ca(), RelaySettings.DEFAULT_CONNECT_TIMEOUT,
                        RelaySettings.DEFAULT_IDLE_TIMEOUT, entry.authHeader(), entry.authScheme(),
                        entry.limits().maxConnections(), entry.limits().headTimeout());
                String variable = entry.keyEnv() == null ? "ENCLAVE_LLM_API_KEY" : entry.keyEnv();
                RelayKeySource key;
                String keyNote;
                // Not fatal when there is no key: everything else works, and the relay answers 503 naming the fix until one is given.
                if (entry.keyFile() != null) {
                    // Re-read when it changes: a rotated (or fixed) key file is used from the next call, no restart.
                    RelayKeyFile file = RelayKeyFile.watch(entry.keyFile(), log);
                    key = file;
                    try {
                        file.key();
                        keyNote = "key from file " + entry.keyFile() + ", re-read when it changes";
                    } catch (RelayKeyException e) {
                        keyNote = "NO API KEY: llm[" + index + "].key.file " + entry.keyFile() + " gives none ("
                                + e.getMessage().split(";")[0] + "); calls answer 503 until the file is right (it is re-read when it changes)";
                    }
                } else {
                    try {
                        RelayKey k = RelayKey.fromEnv(variable, System.getenv());
                        key = RelayKeySource.fixed(k);
                        keyNote = "key from " + k.source();
                    } catch (RelayKeyException e) {
                        key = RelayKeySource.of(() -> null);
                        keyNote = "NO API KEY: $" + variable + " gives none (" + e.getMessage().split(";")[0] + "); calls answer 503"
                                + " until you give it (sudo --preserve-env=ENCLAVE_LLM_API_KEY ./enclave up, or a 0600 key file)"
                                + " and run 'enclave down' and 'enclave up'";
                    }
                }
                // The config's budget (tokens per day, requests per minute), 429 past it, an audit alert when first reached.
                entries.add(new RelayServer.Entry(settings, key, UsageObserver.factory(
                        RelayBudget.of(entry, Clock.systemUTC(), UsageObserver.auditAlerts(log, settings)))));
                notes.add(entry.upstream() + " (" + keyNote + ")");
            }
            RelayServer server = new RelayServer(entries, log);
            InetSocketAddress listen = llm.get(group.get(0)).listen();
            InetSocketAddress bound = startOrExplain(server::start, listen, "LLM relay", "llm[" + group.get(0) + "].listen");
            undo.push(server::close);
            for (String note : notes) {
                parts.add("relay: " + address(bound) + " -> " + note);
            }
        }
    }

    private void startGateway() throws IOException, InterruptedException, UserFileException {
        GatewayCommand flags = new GatewayCommand();
        flags.configFile = target.configFile;
        flags.state = target.state;
        GatewaySettings settings = flags.settings();
        AuditLog log = audit("gateway.log");
        GatewayServer server = new GatewayServer(settings, log, out::println);
        InetSocketAddress bound;
        try {
            bound = server.start();
        } catch (IOException e) {
            log.close();
            throw new IOException("gateway: " + e.getMessage() + "; stop what holds " + address(settings.listen())
                    + " or change gateway.listen in " + target.configFile);
        }
        undo.push(server::close);
        InetSocketAddress shown = settings.listen().getAddress().isAnyLocalAddress() ? settings.listen() : bound;
        parts.add("gateway: https://" + address(shown) + " -> " + settings.upstream()
                + (server.fingerprint() == null ? "" : " (self-signed certificate, SHA-256 " + server.fingerprint() + ")"));
    }

    private void startApp() throws IOException, InterruptedException {
        app = AppLauncher.start(target);
        undo.push(this::stopApp);
        String answering = waitForApp();
        parts.add("app: pid " + app.pid() + " as user " + AppLauncher.APP_USER + " in network namespace " + target.namespace.name()
                + " on " + address(target.appAddress()) + (target.config.appCommand().isEmpty() ? " (built-in demo app)" : "")
                + ", output in " + target.logDir().resolve("app.log") + answering);
    }

    /**
     * Waits until the app accepts connections: up reports success only for an app that answers. An
     * app that exits fails up with the last line it printed; one still starting after
     * {@link #APP_READY_SECONDS} (a big app may take minutes) is reported as such, not as a failure.
     */
    private String waitForApp() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(APP_READY_SECONDS);
        while (System.nanoTime() < deadline) {
            if (!app.isAlive()) {
                Path log = target.logDir().resolve("app.log");
                String last = Files.exists(log) ? Files.readAllLines(log).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("") : "";
                throw new IOException("the app exited (status " + app.exitValue() + ")" + (last.isEmpty() ? "" : ": " + last.strip())
                        + "; see " + log + " and check app.command in " + target.configFile);
            }
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(target.appAddress(), 500);
                return "";
            } catch (IOException notYet) {
                Thread.sleep(200); // the app is still starting
            }
        }
        return "; not answering yet after " + APP_READY_SECONDS + " s ('enclave status' shows when it does)";
    }

    /** SIGTERM to the app, then SIGKILL to whatever still runs in the namespace. */
    private void stopApp() throws Exception {
        if (app != null && app.isAlive()) {
            app.destroy();
            if (!app.waitFor(10, TimeUnit.SECONDS)) {
                app.destroyForcibly();
            }
        }
        killEverythingIn(target.namespace.name());
    }

    /** Kills every process still in network namespace {@code name} (children the app left behind). */
    static void killEverythingIn(String name) throws HostFirewallException {
        if (!Files.exists(Path.of("/run/netns", name))) {
            return;
        }
        Nft.Result pids = Nft.exec(List.of(Nft.tool("ip"), "netns", "pids", name), null, null);
        for (String pid : pids.output().strip().split("\\s+")) {
            if (pid.matches("\\d+")) {
                ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    /** Records what status and down need once everything is up. */
    void writeUpFile(long supervisorPid) throws IOException {
        Properties p = new Properties();
        p.setProperty("pid", Long.toString(supervisorPid));
        p.setProperty("app_pid", Long.toString(app.pid()));
        p.setProperty("config", target.configFile.toString());
        p.setProperty("netns", target.namespace.name());
        Path tmp = target.runDir().resolve("up.properties.tmp");
        try (var w = Files.newBufferedWriter(tmp)) {
            p.store(w, "written by 'enclave up'; removed by 'enclave down'");
        }
        Files.move(tmp, target.upFile(), java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        undo.push(() -> Files.deleteIfExists(target.upFile()));
    }

    /** Stops everything in the reverse order it was started. */
    @Override
    public void close() {
        undoAll();
    }

    private void undoAll() {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (Exception e) {
                out.println("enclave: while stopping: " + e.getMessage());
            }
        }
    }

    private interface Start {
        InetSocketAddress start() throws IOException, InterruptedException;
    }

    private InetSocketAddress startOrExplain(Start start, InetSocketAddress at, String what, String key) throws IOException, InterruptedException {
        try {
            return start.start();
        } catch (IOException e) {
            throw new IOException(what + ": cannot listen on " + address(at) + " (" + e.getMessage() + "); stop what holds the port or change "
                    + key + " in " + target.configFile);
        }
    }

    private AuditLog audit(String file) throws IOException {
        AuditLog log = AuditLog.open(target.auditDir().resolve(file));
        undo.push(log::close);
        return log;
    }

    static String address(InetSocketAddress a) {
        String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }
}
