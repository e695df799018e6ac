package dev.enclave.cli;

import dev.enclave.audit.AuditLog;
import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import dev.enclave.config.ConfigValues;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.GatewayConfig;
import dev.enclave.gateway.GatewayServer;
import dev.enclave.gateway.GatewaySettings;
import dev.enclave.gateway.auth.NftablesBans;
import dev.enclave.gateway.auth.PamCheck;
import dev.enclave.gateway.auth.UserFileException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave gateway}: the ingress gateway in the foreground. Flags override the
 * {@code gateway:} section of {@code -c FILE}.
 */
@Command(name = "gateway", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the ingress gateway: TLS, login (a login page and session cookie for browsers, HTTP Basic for",
                "other clients), lockout, and a reverse proxy with WebSocket pass-through to the app."})
final class GatewayCommand implements Callable<Integer> {
    @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "HTTPS listen address (default 0.0.0.0:8443).")
    String listen;

    @Option(names = "--upstream", paramLabel = "URL", description = "The app, e.g. http://10.77.1.2:3000.")
    String upstream;

    @Option(names = "--users", paramLabel = "FILE", description = "Users file (default STATE/users).")
    Path users;

    @Option(names = "--pam", paramLabel = "SERVICE", description = "Instead of a users file: Linux accounts through PAM service /etc/pam.d/SERVICE.")
    String pam;

    @Option(names = "--pam-group", paramLabel = "GROUP", description = "With --pam: only members of this group may log in.")
    String pamGroup;

    @Option(names = "--pam-allow-root", description = "With --pam: let accounts with uid 0 log in (refused otherwise).")
    boolean pamAllowRoot;

    @Option(names = "--tls-cert", paramLabel = "FILE", description = {"PEM certificate chain; without it a self-signed one is made in STATE/tls.",
            "Either is reloaded when its files change or on SIGHUP; a bad new pair is refused and the old one kept."})
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM (PKCS#8) key for --tls-cert.")
    Path tlsKey;

    @Option(names = "--name", paramLabel = "HOST", description = "Host name for the self-signed certificate; repeat.")
    List<String> names;

    @Option(names = "--redirect-http", paramLabel = "ADDR:PORT", description = "Also answer plain HTTP here with a redirect to HTTPS.")
    String redirectHttp;

    @Option(names = "--state", paramLabel = "DIR", description = "State directory: certificate, bans, sessions (default /var/lib/enclave).")
    Path state;

    @Option(names = "--ban-nftables", description = {"Also have the kernel drop banned sources: a table inet enclave_gateway of its own",
            "(nftables; needs root or CAP_NET_ADMIN), deleted again on exit."})
    boolean banNftables;

    @Option(names = "--audit", paramLabel = "FILE", description = "Append audit JSON lines here (default: standard output).")
    Path audit;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "enclave.yaml; its gateway: section is the base for the flags above.")
    Path configFile;

    @Option(names = "--debug", description = "Print stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        GatewaySettings settings = settings();
        AuditLog log = Foreground.openAudit(audit);
        GatewayServer server = new GatewayServer(settings, log);
        InetSocketAddress bound;
        try {
            bound = server.start();
        } catch (IOException | UserFileException e) {
            log.close();
            throw UserError.usage(e.getMessage());
        }
        System.err.println("enclave gateway: listening on https://" + bound.getAddress().getHostAddress() + ":" + bound.getPort()
                + ", proxying to " + settings.upstream());
        if (server.fingerprint() != null) {
            System.err.println("enclave gateway: self-signed certificate " + settings.stateDir().resolve("tls/cert.pem")
                    + ", SHA-256 " + server.fingerprint() + " (compare with what your browser shows)");
        }
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), sig -> server.reloadTls());
        } catch (IllegalArgumentException e) {
            System.err.println("enclave gateway: SIGHUP not available here; the certificate is reloaded on file change only");
        }
        if (settings.pam() != null) {
            PamStartup.announce(settings.pam());
        }
        Foreground.runUntilStopped("gateway", server, log);
        return ExitCodes.OK;
    }

    GatewaySettings settings() {
        GatewayConfig file = null;
        if (configFile != null) {
            try {
                EnclaveConfig c = ConfigLoader.load(configFile);
                file = c.gateway();
            } catch (ConfigException e) {
                throw UserError.usage(e.getMessage());
            }
        }
        InetSocketAddress listenAt = listen != null ? parse("--listen", listen)
                : file != null ? file.listen() : new InetSocketAddress("0.0.0.0", 8443);
        URI app;
        if (upstream != null) {
            try {
                app = URI.create(upstream);
            } catch (IllegalArgumentException e) {
                throw UserError.usage("--upstream \"" + upstream + "\" is not a URL; write e.g. http://10.77.1.2:3000");
            }
            if (!"http".equals(app.getScheme()) || app.getHost() == null) {
                throw UserError.usage("--upstream \"" + upstream + "\" must be http://HOST:PORT (the app speaks plain HTTP on the private side)");
            }
        } else if (file != null && file.upstream() != null) {
            app = file.upstream();
        } else {
            throw UserError.usage("no upstream: pass --upstream http://HOST:PORT or set gateway.upstream in the config");
        }
        Path stateDir = state != null ? state : Path.of("/var/lib/enclave");
        Path usersFile = users != null ? users
                : file != null && file.auth() != null && file.auth().users() != null ? file.auth().users() : stateDir.resolve("users");
        PamCheck.Options pamOptions = PamStartup.options(pam, pamGroup, pamAllowRoot, users != null, file == null ? null : file.auth());
        if ((tlsCert == null) != (tlsKey == null)) {
            throw UserError.usage("--tls-cert and --tls-key go together; give both, or neither for a self-signed certificate");
        }
        Path certFile = tlsCert;
        Path keyFile = tlsKey;
        if (certFile == null && file != null && file.tls() != null && file.tls().cert() != null) {
            certFile = file.tls().cert(); // mode: files (the loader made sure both are there)
            keyFile = file.tls().key();
        }
        List<String> certNames = names != null ? names
                : file != null && file.tls() != null ? file.tls().names() : new ArrayList<>();
        InetSocketAddress redirect = redirectHttp != null ? parse("--redirect-http", redirectHttp)
                : file != null ? file.redirectHttp() : null;
        GatewayConfig.Lockout lockout = file != null && file.lockout() != null ? file.lockout()
                : new GatewayConfig.Lockout(5, Duration.ofMinutes(10), Duration.ofHours(1));
        GatewayConfig.Session session = file != null ? file.session() : GatewayConfig.Session.DEFAULTS;
        GatewayConfig.Limits limits = file != null ? file.limits() : GatewayConfig.Limits.DEFAULTS;
        GatewaySettings s = new GatewaySettings(listenAt, redirect, app, usersFile, stateDir, certFile, keyFile, certNames,
                limits.maxHeadBytes(), limits.websocketIdle(), lockout.maxFailures(), lockout.window(), lockout.ban(),
                pamOptions, session.idle(), session.absolute()).withClientIdle(limits.clientIdle());
        return banNftables || lockout.nftables() ? s.withNftables(NftablesBans.defaultCommand()) : s;
    }

    private static InetSocketAddress parse(String flag, String value) {
        try {
            return ConfigValues.socketAddress(value);
        } catch (IllegalArgumentException e) {
            throw UserError.usage(flag + " " + e.getMessage());
        }
    }
}
