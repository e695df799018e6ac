package dev.enclave.cli;

import dev.enclave.audit.AuditLog;
import dev.enclave.config.ConfigValues;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.egress.relay.RelayPreset;
import dev.enclave.egress.relay.RelayRoute;
import dev.enclave.egress.relay.RelayServer;
import dev.enclave.egress.relay.RelaySettings;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave relay}: runs the LLM relay in the foreground. The key comes from an environment
 * variable named by {@code --key-env}; there is deliberately no flag that takes the key itself,
 * because a command line is readable by every user of the host ({@code ps}, {@code /proc/PID/cmdline}).
 */
@Command(name = "relay", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the LLM relay: the app calls it over plain HTTP with a placeholder key; it removes every",
                "credential the app sent, sets the real key, and forwards only the API's paths to the one upstream over verified TLS."})
final class RelayCommand implements Callable<Integer> {
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    @Option(names = "--listen", required = true, paramLabel = "ADDR:PORT",
            description = "Where the app connects, on the private side (e.g. 10.77.1.1:4000).")
    String listen;

    @Option(names = "--upstream", required = true, paramLabel = "URL", description = "The LLM API, https://host[:port] (e.g. https://api.openai.com).")
    String upstream;

    @Option(names = "--preset", paramLabel = "NAME", description = "openai (default; Authorization: Bearer), anthropic (x-api-key) or azure (api-key).")
    String preset = "openai";

    @Option(names = "--key-env", required = true, paramLabel = "VAR", description = "Environment variable holding the API key (the key is never taken on the command line).")
    String keyEnv;

    @Option(names = "--path", paramLabel = "PREFIX", description = "Allowed path prefix (GET and POST); repeat. Replaces the preset's list.")
    List<String> paths;

    @Option(names = "--resolve", paramLabel = "NAME=IP", description = "Pin the upstream name to an address (NAME:PORT=IP:PORT also redirects the port); repeat.")
    List<String> resolve;

    @Option(names = "--allow-cidr", paramLabel = "CIDR", description = "Let the upstream resolve into this otherwise-refused range; repeat.")
    List<String> allowCidr;

    @Option(names = "--resolver", paramLabel = "IP:PORT", description = "DNS server to use instead of /etc/resolv.conf.")
    String resolver;

    @Option(names = "--ca", paramLabel = "FILE", description = "PEM CA certificate(s) to trust for the upstream besides the system's (tests, private APIs).")
    Path ca;

    @Option(names = "--audit", paramLabel = "FILE", description = "Append audit JSON lines here (default: standard output).")
    Path audit;

    @Option(names = "--idle-timeout", paramLabel = "DURATION", description = "Close a connection silent this long (default 15m; answers can take minutes).")
    String idleTimeout;

    @Option(names = "--debug", description = "Print stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        RelaySettings settings = settings();
        String key = key();
        AuditLog log = Foreground.openAudit(audit);
        RelayServer server = new RelayServer(settings, () -> key, log);
        InetSocketAddress bound;
        try {
            bound = server.start();
        } catch (IOException e) {
            log.close();
            throw UserError.usage(e.getMessage() + "; choose another --listen, stop what holds the port, or fix --ca");
        }
        StringJoiner prefixes = new StringJoiner(" ");
        settings.routes().forEach(r -> prefixes.add(r.prefix()));
        String host = bound.getAddress().getHostAddress();
        System.err.println("enclave relay: listening on " + (host.contains(":") ? "[" + host + "]" : host) + ":" + bound.getPort()
                + ", forwarding " + prefixes + " to " + settings.upstream() + " (" + settings.preset().id()
                + ", key from $" + keyEnv + ")");
        Foreground.runUntilStopped("relay", server, log);
        return ExitCodes.OK;
    }

    RelaySettings settings() {
        InetSocketAddress at = flag("--listen", listen, ConfigValues::socketAddress);
        URI up = flag("--upstream", upstream, RelaySettings::parseUpstream);
        RelayPreset p = flag("--preset", preset, RelayPreset::parse);
        List<RelayRoute> routes = paths == null ? List.of()
                : flags("--path", paths, prefix -> new RelayRoute(prefix, RelayRoute.CUSTOM_METHODS));
        if (ca != null && !Files.isReadable(ca)) {
            throw UserError.usage("--ca " + ca + ": file not found or not readable; give a PEM CA certificate");
        }
        return new RelaySettings(at, up, p, routes,
                resolve == null ? List.of() : flags("--resolve", resolve, ResolvePin::parse),
                allowCidr == null ? List.of() : flags("--allow-cidr", allowCidr, Cidr::parse),
                resolver == null ? null : flag("--resolver", resolver, ConfigValues::socketAddress),
                ca,
                RelaySettings.DEFAULT_CONNECT_TIMEOUT,
                idleTimeout == null ? RelaySettings.DEFAULT_IDLE_TIMEOUT
                        : flag("--idle-timeout", idleTimeout, EgressCommand.ConfigEgressFlags::positive));
    }

    /** The key from the environment; the error names the variable, never a value. */
    private String key() {
        if (!ENV_NAME.matcher(keyEnv).matches()) {
            // Not echoed: what was given may be the key itself, and this line goes to logs.
            throw UserError.usage("--key-env takes the name of an environment variable (letters, digits, _), e.g. "
                    + "--key-env ENCLAVE_LLM_API_KEY; never the key itself");
        }
        String key = System.getenv(keyEnv);
        if (key == null || key.isBlank()) {
            throw UserError.usage("--key-env " + keyEnv + ": the variable is not set or empty; export it with the API key before starting the relay");
        }
        key = key.strip();
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                throw UserError.usage("--key-env " + keyEnv + ": the key holds a space, line break or non-ASCII character; "
                        + "an API key is one printable token");
            }
        }
        return key;
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
