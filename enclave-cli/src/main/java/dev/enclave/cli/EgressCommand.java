package dev.enclave.cli;

import dev.enclave.audit.AuditLog;
import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import dev.enclave.config.ConfigValues;
import dev.enclave.config.EgressConfig;
import dev.enclave.config.EgressLimits;
import dev.enclave.config.EgressMode;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.ResolvePin;
import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import dev.enclave.egress.EgressServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave egress}: runs the egress proxy in the foreground. Flags override the
 * {@code egress:} section of {@code -c FILE}; with a file, the allowlist is reloaded on SIGHUP and
 * when the file changes, without dropping open tunnels (an invalid edit is reported and ignored).
 */
@Command(name = "egress", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the egress proxy: the app's only way out, allowing CONNECT (and plain HTTP on port 80)",
                "only to listed host:port names, resolved by the proxy itself and never to private or metadata addresses."})
final class EgressCommand implements Callable<Integer> {
    @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "Where to accept connections (default 127.0.0.1:3128).")
    String listen;

    @Option(names = "--allow", paramLabel = "HOST:PORT", description = "Allowed destination; repeat. '*.example.com:443' allows subdomains only.")
    List<String> allow;

    @Option(names = "--allow-cidr", paramLabel = "CIDR", description = "Let allowed names resolve into this otherwise-denied range; repeat.")
    List<String> allowCidr;

    @Option(names = "--resolve", paramLabel = "NAME=IP", description = "Pin a name to an address (NAME:PORT=IP:PORT also redirects the port); repeat.")
    List<String> resolve;

    @Option(names = "--resolver", paramLabel = "IP:PORT", description = "DNS server to use instead of /etc/resolv.conf.")
    String resolver;

    @Option(names = "--client", paramLabel = "CIDR", description = "Only accept clients from this range; repeat (default: any).")
    List<String> clients;

    @Option(names = "--mode", paramLabel = "MODE", description = "enforce (default) or report (allows but audits what enforce would deny).")
    String mode;

    @Option(names = "--audit", paramLabel = "FILE", description = "Append audit JSON lines here (default: standard output).")
    Path audit;

    @Option(names = "--head-timeout", paramLabel = "DURATION", description = "Time allowed to send a request head (default 10s).")
    String headTimeout;

    @Option(names = "--idle-timeout", paramLabel = "DURATION", description = "Close a tunnel silent this long (default 15m).")
    String idleTimeout;

    @Option(names = "--max-connections", paramLabel = "N", description = "Concurrent client connections (default 4096).")
    Integer maxConnections;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "enclave.yaml; its egress: section is the base for the flags above.")
    Path configFile;

    @Option(names = "--debug", description = "Print stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        EgressConfig config = effectiveConfig();
        AuditLog log = Foreground.openAudit(config.audit());
        EgressServer server = new EgressServer(config, log);
        InetSocketAddress bound;
        try {
            bound = server.start();
        } catch (IOException e) {
            log.close();
            throw UserError.usage(e.getMessage() + "; choose another --listen or stop what holds the port");
        }
        System.err.println("enclave egress: listening on " + format(bound) + ", allowing " + config.allow()
                + (config.allowCidr().isEmpty() ? "" : ", allow_cidr " + config.allowCidr()));
        if (config.mode() == EgressMode.REPORT) {
            System.err.println("enclave egress: WARNING: REPORT MODE - nothing on the allowlist is enforced; "
                    + "denials are only audited as report_would_deny. Use this only to discover an allowlist.");
        }
        if (configFile != null) {
            watchForReload(server);
        }
        Foreground.runUntilStopped("egress", server, log);
        return ExitCodes.OK;
    }

    /** The file's egress section (or defaults), with every given flag laid over it. */
    EgressConfig effectiveConfig() {
        EgressConfig base = EgressConfig.defaults();
        if (configFile != null) {
            try {
                EnclaveConfig file = ConfigLoader.load(configFile);
                if (file.egress() != null) {
                    base = file.egress();
                }
            } catch (ConfigException e) {
                throw UserError.usage(e.getMessage());
            }
        }
        EgressLimits l = base.limits();
        EgressLimits limits = new EgressLimits(l.maxHeadBytes(),
                headTimeout == null ? l.headTimeout() : flag("--head-timeout", headTimeout, ConfigEgressFlags::positive),
                l.connectTimeout(),
                idleTimeout == null ? l.idleTimeout() : flag("--idle-timeout", idleTimeout, ConfigEgressFlags::positive),
                maxConnections == null ? l.maxConnections() : flag("--max-connections", String.valueOf(maxConnections), ConfigEgressFlags::count));
        return new EgressConfig(
                listen == null ? base.listen() : flag("--listen", listen, ConfigValues::socketAddress),
                allow == null ? base.allow() : flags("--allow", allow, HostPattern::parse),
                allowCidr == null ? base.allowCidr() : flags("--allow-cidr", allowCidr, Cidr::parse),
                resolve == null ? base.resolve() : flags("--resolve", resolve, ResolvePin::parse),
                resolver == null ? base.resolver() : flag("--resolver", resolver, ConfigValues::socketAddress),
                clients == null ? base.clients() : flags("--client", clients, Cidr::parse),
                base.tlsPorts(),
                mode == null ? base.mode() : flag("--mode", mode, ConfigEgressFlags::mode),
                limits,
                audit == null ? base.audit() : audit);
    }

    private void watchForReload(EgressServer server) {
        Runnable reload = () -> {
            try {
                server.reload(effectiveConfig());
                System.err.println("enclave egress: reloaded " + configFile);
            } catch (UserError e) {
                System.err.println("enclave egress: reload refused, keeping the running allowlist: " + e.getMessage());
            }
        };
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), sig -> reload.run());
        } catch (IllegalArgumentException e) {
            System.err.println("enclave egress: SIGHUP not available here; reloading on file change only");
        }
        ScheduledExecutorService watcher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "enclave-config-watch");
            t.setDaemon(true);
            return t;
        });
        FileTime[] last = {modified(configFile)};
        watcher.scheduleWithFixedDelay(() -> {
            FileTime now = modified(configFile);
            if (now != null && !now.equals(last[0])) {
                last[0] = now;
                reload.run();
            }
        }, 2, 2, TimeUnit.SECONDS);
    }

    private static FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            return null;
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

    private static String format(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    /** Flag value parsers that the config file has under other names. */
    static final class ConfigEgressFlags {
        private ConfigEgressFlags() {
        }

        static Duration positive(String text) {
            Duration d = ConfigValues.duration(text);
            if (d.isZero()) {
                throw new IllegalArgumentException("must be more than zero, e.g. 30s");
            }
            return d;
        }

        static Integer count(String text) {
            int n = Integer.parseInt(text);
            if (n < 1) {
                throw new IllegalArgumentException(text + " must be at least 1");
            }
            return n;
        }

        static EgressMode mode(String text) {
            return switch (text) {
                case "enforce" -> EgressMode.ENFORCE;
                case "report" -> EgressMode.REPORT;
                default -> throw new IllegalArgumentException("\"" + text + "\" is not enforce | report");
            };
        }
    }
}
