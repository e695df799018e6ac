package dev.enclave.cli;

import dev.enclave.audit.AuditLog;
import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import dev.enclave.config.ConfigValues;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.LlmConfig;
import dev.enclave.config.LlmLimits;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
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
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave relay}: runs the LLM relay in the foreground, from flags or from every {@code llm:}
 * entry of {@code enclave.yaml} ({@code -c}). The key comes from an environment variable
 * ({@code --key-env}) or a 0600 file ({@code --key-file}); there is deliberately no flag that takes
 * the key itself, because a command line is readable by every user of the host ({@code ps},
 * {@code /proc/PID/cmdline}).
 */
@Command(name = "relay", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the LLM relay: the app calls it over plain HTTP with a placeholder key; it removes every",
                "credential the app sent, sets the real key, and forwards only the API's paths to the one upstream over verified TLS.",
                "Each call's audit line carries the model and the prompt/completion tokens; budgets answer 429 when over."})
final class RelayCommand implements Callable<Integer> {
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    @Option(names = "--listen", paramLabel = "ADDR:PORT",
            description = "Where the app connects, on the private side (e.g. 10.77.1.1:4000).")
    String listen;

    @Option(names = "--upstream", paramLabel = "URL", description = "The LLM API, https://host[:port] (e.g. https://api.openai.com).")
    String upstream;

    @Option(names = "--preset", paramLabel = "NAME", description = "openai (default; Authorization: Bearer), anthropic (x-api-key) or azure (api-key).")
    String preset;

    @Option(names = "--key-env", paramLabel = "VAR", description = "Environment variable holding the API key (the key is never taken on the command line).")
    String keyEnv;

    @Option(names = "--key-file", paramLabel = "FILE", description = "File holding the API key on one line; must be mode 0600 (or 0400) and yours or root's.")
    Path keyFile;

    @Option(names = "--auth-header", paramLabel = "NAME", description = "Header the key goes in (default: the preset's, e.g. Authorization).")
    String authHeader;

    @Option(names = "--auth-scheme", paramLabel = "WORD", description = "Word before the key in that header (default: the preset's, Bearer for openai); \"\" for the key alone.")
    String authScheme;

    @Option(names = "--path", paramLabel = "PREFIX", description = "Allowed path prefix (GET and POST); repeat. Replaces the preset's list.")
    List<String> paths;

    @Option(names = "--resolve", paramLabel = "NAME=IP", description = "Pin the upstream name to an address (NAME:PORT=IP:PORT also redirects the port); repeat.")
    List<String> resolve;

    @Option(names = "--allow-cidr", paramLabel = "CIDR", description = "Let the upstream resolve into this otherwise-refused range; repeat.")
    List<String> allowCidr;

    @Option(names = "--ca", paramLabel = "FILE", description = "PEM CA certificate(s) to trust for the upstream besides the system's (tests, private APIs).")
    Path ca;

    @Option(names = "--tokens-per-day", paramLabel = "N", description = "Prompt plus completion tokens per UTC day; over it, calls get 429 until midnight UTC (default: no limit).")
    Long tokensPerDay;

    @Option(names = "--requests-per-minute", paramLabel = "N", description = "Calls in any 60 seconds; over it, calls get 429 with Retry-After (default: no limit).")
    Integer requestsPerMinute;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "enclave.yaml: serve every llm: entry (entries sharing a listen address are routed by their paths); "
            + "with one entry, the flags above override its values.")
    Path configFile;

    @Option(names = "--resolver", paramLabel = "IP:PORT", description = "DNS server to use instead of /etc/resolv.conf.")
    String resolver;

    @Option(names = "--audit", paramLabel = "FILE", description = "Append audit JSON lines here (default: standard output).")
    Path audit;

    @Option(names = "--idle-timeout", paramLabel = "DURATION", description = "Close a connection silent this long (default 15m; answers can take minutes).")
    String idleTimeout;

    @Option(names = "--max-connections", paramLabel = "N", description = "Connections open at once per listen address; past it, 503 and closed (default 1024).")
    Integer maxConnections;

    @Option(names = "--head-timeout", paramLabel = "DURATION", description = "Time a connection gets to send a whole request head; then 408 and closed (default 10s).")
    String headTimeout;

    @Option(names = "--debug", description = "Print stack traces on errors.")
    boolean debug;

    /**
     * One upstream to serve: what it serves, its key (checked at start), the key file to re-read
     * when it changes (null for a key from the environment), its budget.
     */
    record Relay(String name, RelaySettings settings, RelayKey key, Path keyFile, long tokensPerDay, int requestsPerMinute) {
        /** {@code $VAR} or {@code file PATH, re-read when it changes}, never the key. */
        String keySource() {
            return key.source().startsWith("env ") ? "$" + key.source().substring(4) : key.source() + ", re-read when it changes";
        }
    }

    @Override
    public Integer call() throws Exception {
        List<Relay> relays = relays();
        AuditLog log = Foreground.openAudit(audit);
        List<RelayServer> servers = new ArrayList<>();
        AutoCloseable all = () -> servers.forEach(RelayServer::close);
        // Entries on one listen address share one listener, which routes each call by its path
        // (the config check made their paths disjoint and their limits equal).
        Map<InetSocketAddress, List<Relay>> byListener = new LinkedHashMap<>();
        relays.forEach(r -> byListener.computeIfAbsent(r.settings().listen(), a -> new ArrayList<>()).add(r));
        for (List<Relay> group : byListener.values()) {
            List<RelayServer.Entry> entries = new ArrayList<>();
            for (Relay r : group) {
                RelayBudget budget = new RelayBudget(r.tokensPerDay(), r.requestsPerMinute(), Clock.systemUTC(),
                        UsageObserver.auditAlerts(log, r.settings()));
                entries.add(new RelayServer.Entry(r.settings(), keySource(r, log), UsageObserver.factory(budget)));
            }
            RelayServer server = new RelayServer(entries, log);
            servers.add(server);
            InetSocketAddress bound;
            try {
                bound = server.start();
            } catch (IOException e) {
                all.close();
                log.close();
                String name = group.get(0).name();
                throw UserError.usage((name.isEmpty() ? "" : name + ": ") + e.getMessage()
                        + "; choose another listen address, stop what holds the port, or fix the CA file");
            }
            for (Relay r : group) {
                System.err.println(describe(r, bound));
            }
        }
        Foreground.runUntilStopped("relay", all, log);
        return ExitCodes.OK;
    }

    /** A key file is re-read when it changes (rotation without a restart); an environment variable is fixed for the process. */
    private static RelayKeySource keySource(Relay r, AuditLog log) {
        if (r.keyFile() == null) {
            return RelayKeySource.fixed(r.key());
        }
        try {
            return RelayKeyFile.open(r.keyFile(), log);
        } catch (RelayKeyException e) {
            // It was good a moment ago (relays() read it): changed since; the message names the file and the fix.
            throw UserError.usage((r.name().isEmpty() ? "--key-file" : r.name() + " key.file") + ": " + e.getMessage());
        }
    }

    private static String describe(Relay r, InetSocketAddress bound) {
        RelaySettings s = r.settings();
        StringJoiner prefixes = new StringJoiner(" ");
        s.routes().forEach(route -> prefixes.add(route.prefix()));
        String host = bound.getAddress().getHostAddress();
        StringBuilder line = new StringBuilder("enclave relay: ");
        if (!r.name().isEmpty()) {
            line.append(r.name()).append(": ");
        }
        line.append("listening on ").append(host.contains(":") ? "[" + host + "]" : host).append(':').append(bound.getPort())
                .append(", forwarding ").append(prefixes).append(" to ").append(s.upstream())
                .append(" (").append(s.preset().id()).append(", key from ").append(r.keySource()).append(')');
        if (r.tokensPerDay() > 0 || r.requestsPerMinute() > 0) {
            line.append(", budget");
            if (r.tokensPerDay() > 0) {
                line.append(' ').append(r.tokensPerDay()).append(" tokens/day");
            }
            if (r.requestsPerMinute() > 0) {
                line.append(' ').append(r.requestsPerMinute()).append(" requests/min");
            }
        }
        return line.toString();
    }

    /** The relays to run: the flags alone, or every llm: entry of the config with the flags over a single one. */
    List<Relay> relays() {
        if (configFile == null) {
            return List.of(fromFlags());
        }
        EnclaveConfig file;
        try {
            file = ConfigLoader.load(configFile);
        } catch (ConfigException e) {
            throw UserError.usage(e.getMessage());
        }
        List<LlmConfig> entries = file.llm();
        if (entries.isEmpty()) {
            throw UserError.usage(configFile + " has no llm: entries; add one (see the README's relay section), or run without -c");
        }
        if (entries.size() > 1 && anyEntryFlag()) {
            throw UserError.usage(configFile + " has " + entries.size() + " llm: entries and the flags would apply to one of"
                    + " them; put the values in the file, or keep only --audit, --resolver, --idle-timeout,"
                    + " --max-connections, --head-timeout and --debug");
        }
        List<Relay> out = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            out.add(fromEntry(entries.size() == 1 ? "" : "llm[" + i + "]", "llm[" + i + "]", entries.get(i)));
        }
        return out;
    }

    private boolean anyEntryFlag() {
        return listen != null || upstream != null || preset != null || keyEnv != null || keyFile != null
                || authHeader != null || authScheme != null || paths != null || resolve != null || allowCidr != null
                || ca != null || tokensPerDay != null || requestsPerMinute != null;
    }

    private Relay fromFlags() {
        if (listen == null || upstream == null) {
            throw UserError.usage("give --listen and --upstream (e.g. --listen 10.77.1.1:4000 --upstream https://api.openai.com),"
                    + " or -c enclave.yaml with an llm: entry");
        }
        InetSocketAddress at = flag("--listen", listen, ConfigValues::socketAddress);
        URI up = flag("--upstream", upstream, RelaySettings::parseUpstream);
        RelayPreset p = flag("--preset", preset == null ? "openai" : preset, RelayPreset::parse);
        List<RelayRoute> routes = paths == null ? List.of() : flags("--path", paths, RelayCommand::route);
        RelaySettings settings = settings(at, up, p, routes,
                resolve == null ? List.of() : flags("--resolve", resolve, ResolvePin::parse),
                allowCidr == null ? List.of() : flags("--allow-cidr", allowCidr, Cidr::parse),
                checkedCa("--ca", ca), authHeader, authScheme, "--auth-header/--auth-scheme", LlmLimits.DEFAULTS);
        return new Relay("", settings, key(null, null), keyFile, budgetTokens(0), budgetRate(0));
    }

    private Relay fromEntry(String name, String where, LlmConfig e) {
        String in = configFile + " " + where;
        InetSocketAddress at = listen == null ? e.listen() : flag("--listen", listen, ConfigValues::socketAddress);
        URI up = upstream == null ? entryValue(in + " upstream", e.upstream().toString(), RelaySettings::parseUpstream)
                : flag("--upstream", upstream, RelaySettings::parseUpstream);
        RelayPreset p = preset == null ? RelayPreset.parse(e.preset()) : flag("--preset", preset, RelayPreset::parse);
        List<RelayRoute> routes = paths != null ? flags("--path", paths, RelayCommand::route)
                : e.paths().stream().map(RelayCommand::route).toList();
        RelaySettings settings = settings(at, up, p, routes,
                resolve == null ? e.resolve() : flags("--resolve", resolve, ResolvePin::parse),
                allowCidr == null ? e.allowCidr() : flags("--allow-cidr", allowCidr, Cidr::parse),
                ca != null ? checkedCa("--ca", ca) : checkedCa(in + " ca", e.ca()),
                authHeader != null ? authHeader : e.authHeader(),
                authScheme != null ? authScheme : e.authScheme(),
                in + " auth_header/auth_scheme", e.limits());
        RelayKey key = key(e, in);
        Path file = keyEnv != null ? null : keyFile != null ? keyFile : e.keyEnv() != null ? null : e.keyFile();
        return new Relay(name, settings, key, file, budgetTokens(e.tokensPerDay()),
                budgetRate(Math.toIntExact(e.requestsPerMinute())));
    }

    private RelaySettings settings(InetSocketAddress at, URI up, RelayPreset p, List<RelayRoute> routes,
                                   List<ResolvePin> pins, List<Cidr> cidrs, Path caFile, String header, String scheme,
                                   String authSource, LlmLimits limits) {
        int connections = limits.maxConnections();
        if (maxConnections != null) {
            if (maxConnections < 1 || maxConnections > 1_000_000) {
                throw UserError.usage("--max-connections " + maxConnections + ": give 1 to 1000000");
            }
            connections = maxConnections;
        }
        Duration head = headTimeout == null ? limits.headTimeout()
                : flag("--head-timeout", headTimeout, EgressCommand.ConfigEgressFlags::positive);
        try {
            return new RelaySettings(at, up, p, routes, pins, cidrs,
                    resolver == null ? null : flag("--resolver", resolver, ConfigValues::socketAddress),
                    caFile,
                    RelaySettings.DEFAULT_CONNECT_TIMEOUT,
                    idleTimeout == null ? RelaySettings.DEFAULT_IDLE_TIMEOUT
                            : flag("--idle-timeout", idleTimeout, EgressCommand.ConfigEgressFlags::positive),
                    header, scheme, connections, head);
        } catch (IllegalArgumentException e) {
            throw UserError.usage(authSource + ": " + e.getMessage());
        }
    }

    private static RelayRoute route(String prefix) {
        return new RelayRoute(prefix, RelayRoute.CUSTOM_METHODS);
    }

    private static Path checkedCa(String name, Path file) {
        if (file != null && !Files.isReadable(file)) {
            throw UserError.usage(name + " " + file + ": file not found or not readable; give a PEM CA certificate");
        }
        return file;
    }

    private long budgetTokens(long fromFile) {
        if (tokensPerDay == null) {
            return fromFile;
        }
        if (tokensPerDay < 1) {
            throw UserError.usage("--tokens-per-day " + tokensPerDay + ": give at least 1, or leave it out for no limit");
        }
        return tokensPerDay;
    }

    private int budgetRate(int fromFile) {
        if (requestsPerMinute == null) {
            return fromFile;
        }
        if (requestsPerMinute < 1 || requestsPerMinute > RelayBudget.MAX_REQUESTS_PER_MINUTE) {
            throw UserError.usage("--requests-per-minute " + requestsPerMinute + ": give 1 to " + RelayBudget.MAX_REQUESTS_PER_MINUTE
                    + ", or leave it out for no limit");
        }
        return requestsPerMinute;
    }

    /**
     * The key from {@code --key-env}/{@code --key-file}, else from the entry's {@code key:}; exactly
     * one source. Errors name the variable or file, never a value.
     */
    private RelayKey key(LlmConfig entry, String where) {
        if (keyEnv != null && keyFile != null) {
            throw UserError.usage("give --key-env or --key-file, not both");
        }
        String env = keyEnv;
        Path file = keyFile;
        String envName = "--key-env";
        String fileName = "--key-file";
        if (env == null && file == null && entry != null) {
            env = entry.keyEnv();
            file = entry.keyFile();
            envName = where + " key.env";
            fileName = where + " key.file";
        }
        if (env == null && file == null) {
            throw UserError.usage((entry == null ? "" : where + " has no key; ")
                    + "give --key-env VAR (an environment variable holding the API key) or --key-file FILE (a 0600 file);"
                    + " never the key itself");
        }
        try {
            if (file != null) {
                if (!Files.exists(file) && !Files.isSymbolicLink(file)) {
                    // Not echoed: a value that names no file may be the key itself, and this line goes to logs.
                    throw UserError.usage(fileName + ": no such file (the value is not repeated, in case it is the key);"
                            + " give the path of a file holding the API key on one line, mode 0600");
                }
                return RelayKey.fromFile(file);
            }
            if (!ENV_NAME.matcher(env).matches()) {
                // Not echoed: what was given may be the key itself, and this line goes to logs.
                throw UserError.usage(envName + " takes the name of an environment variable (letters, digits, _), e.g. "
                        + "--key-env ENCLAVE_LLM_API_KEY; never the key itself");
            }
            return RelayKey.fromEnv(env, System.getenv());
        } catch (RelayKeyException e) {
            throw UserError.usage((file != null ? fileName : envName) + ": " + e.getMessage());
        }
    }

    private static <T> T entryValue(String name, String value, Function<String, T> parser) {
        try {
            return parser.apply(value);
        } catch (IllegalArgumentException e) {
            throw UserError.usage(name + ": " + e.getMessage());
        }
    }

    private static <T> T flag(String name, String value, Function<String, T> parser) {
        try {
            return parser.apply(value);
        } catch (IllegalArgumentException e) {
            throw UserError.usage(name + " " + e.getMessage());
        }
    }

    private static <T> List<T> flags(String name, List<String> values, Function<String, T> parser) {
        List<T> out = new ArrayList<>();
        for (String v : values) {
            out.add(flag(name, v, parser));
        }
        return out;
    }
}
