package dev.enclave.cli;

import dev.enclave.config.LlmConfig;
import dev.enclave.gateway.GatewaySettings;
import dev.enclave.host.HostFirewall;
import dev.enclave.host.HostFirewallException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave status}: one line per part of the local target, {@code PART ok|FAIL DETAIL};
 * exit 1 when any part fails. The firewall line compares the live table in the namespace with the
 * config's ruleset ({@code enclave host check}), the host firewall line the host-side table on the
 * veth ({@code enclave host check --host-side-of NETNS}); both need root.
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = {"One line per part of the local target (gateway, egress, relay, firewall drift, app, certificate);",
                "exit 1 when any is unhealthy."})
final class StatusCommand implements Callable<Integer> {
    private static final int CONNECT_TIMEOUT_MS = 2000;
    private static final Duration CERT_WARNING = Duration.ofDays(14);

    @Option(names = "--state", paramLabel = "DIR", description = "State directory (default $ENCLAVE_STATE_DIR or /var/lib/enclave).")
    Path state;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "enclave.yaml when Enclave is not up (default: the one up used).")
    Path configFile;

    @Option(names = "--netns", hidden = true, paramLabel = "NAME", description = "Name of the app namespace (tests; default enclave-app).")
    String netns;

    private final List<String> lines = new ArrayList<>();
    private boolean healthy = true;

    @Override
    public Integer call() {
        Path stateDir = LocalTarget.stateDir(state);
        Optional<UpState> up = UpState.read(stateDir);
        Path config = up.map(UpState::config).orElse(configFile);
        if (config == null && !Files.exists(LocalTarget.configFile(stateDir, null))) {
            System.out.println("enclave is not up (no " + LocalTarget.configFile(stateDir, null) + "); start it with 'enclave up'");
            return ExitCodes.FAILED;
        }
        LocalTarget target = LocalTarget.load(stateDir, config, up.map(UpState::netns).orElse(netns), false);
        boolean running = up.isPresent() && up.get().supervisorAlive();
        part("supervisor", running, running ? "pid " + up.get().pid() + ", state " + stateDir
                : "not running; start it with 'enclave up" + (state == null ? "" : " --state " + stateDir) + "'");
        GatewaySettings gateway = gatewaySettings(target);
        InetSocketAddress gw = gateway.listen();
        InetSocketAddress probe = gw.getAddress().isAnyLocalAddress() ? new InetSocketAddress(InetAddress.getLoopbackAddress(), gw.getPort()) : gw;
        listening("gateway", probe, "https://" + LocalDeployment.address(gw) + " -> " + gateway.upstream());
        listening("egress", target.egressAddress(), "proxy on " + LocalDeployment.address(target.egressAddress()));
        for (LlmConfig llm : target.config.llm()) {
            listening("relay", llm.listen(), LocalDeployment.address(llm.listen()) + " -> " + llm.upstream());
        }
        firewall(target);
        boolean appAlive = up.isPresent() && up.get().appAlive();
        if (!appAlive) {
            part("app", false, up.isPresent() ? "process " + up.get().appPid() + " is not running; see " + target.logDir().resolve("app.log") : "not running");
        } else {
            listening("app", target.appAddress(), "pid " + up.get().appPid() + " in network namespace " + target.namespace.name());
        }
        certificate(gateway);
        int width = lines.stream().mapToInt(l -> l.indexOf('\t')).max().orElse(0);
        for (String l : lines) {
            int tab = l.indexOf('\t');
            System.out.println(String.format("%-" + width + "s  %s", l.substring(0, tab), l.substring(tab + 1)));
        }
        return healthy ? ExitCodes.OK : ExitCodes.FAILED;
    }

    private void firewall(LocalTarget target) {
        if (!target.namespace.exists()) {
            part("firewall", false, "network namespace " + target.namespace.name() + " does not exist");
        } else {
            appSideFirewall(target);
        }
        hostSideFirewall(target);
    }

    private void appSideFirewall(LocalTarget target) {
        try {
            List<String> drift = HostFirewall.of(target.namespace.name()).check(target.ruleset);
            part("firewall", drift.isEmpty(), drift.isEmpty() ? "table inet enclave in " + target.namespace.name() + " is as rendered"
                    : drift.size() + " difference" + (drift.size() == 1 ? "" : "s") + " (" + drift.get(0) + "); 'enclave host check --netns "
                    + target.namespace.name() + " -c " + target.configFile + "' lists them, 'enclave down && enclave up' restores the table");
        } catch (HostFirewallException e) {
            part("firewall", false, e.getMessage());
        }
    }

    /** The host-side table on the veth's host end: the one root inside the namespace cannot flush. */
    private void hostSideFirewall(LocalTarget target) {
        String table = "inet " + target.hostSideRuleset.table();
        try {
            List<String> drift = HostFirewall.of(null).check(target.hostSideRuleset);
            part("host firewall", drift.isEmpty(), drift.isEmpty() ? "table " + table + " on " + target.namespace.hostInterface() + " is as rendered"
                    : drift.size() + " difference" + (drift.size() == 1 ? "" : "s") + " (" + drift.get(0) + "); 'enclave host check --host-side-of "
                    + target.namespace.name() + " -c " + target.configFile + "' lists them, 'enclave down && enclave up' restores the table");
        } catch (HostFirewallException e) {
            part("host firewall", false, e.getMessage());
        }
    }

    private void certificate(GatewaySettings gateway) {
        Path cert = gateway.tlsCert() != null ? gateway.tlsCert() : gateway.stateDir().resolve("tls").resolve("cert.pem");
        if (!Files.exists(cert)) {
            part("certificate", false, cert + " does not exist");
            return;
        }
        try (InputStream in = Files.newInputStream(cert)) {
            X509Certificate c = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            Instant end = c.getNotAfter().toInstant();
            Duration left = Duration.between(Instant.now(), end);
            boolean ok = !left.isNegative();
            String when = ok ? "expires " + end + " (in " + left.toDays() + " days" + (left.compareTo(CERT_WARNING) < 0 ? ", renew soon" : "") + ")"
                    : "EXPIRED " + end;
            part("certificate", ok, when + ", " + cert);
        } catch (IOException | CertificateException | ClassCastException e) {
            part("certificate", false, "cannot read " + cert + ": " + e.getMessage());
        }
    }

    private void listening(String name, InetSocketAddress at, String detail) {
        try (Socket s = new Socket()) {
            s.connect(at, CONNECT_TIMEOUT_MS);
            part(name, true, detail);
        } catch (IOException e) {
            part(name, false, detail + ": not answering (" + e.getMessage() + ")");
        }
    }

    private void part(String name, boolean ok, String detail) {
        healthy &= ok;
        lines.add(name + "\t" + (ok ? "ok    " : "FAIL  ") + detail);
    }

    private static GatewaySettings gatewaySettings(LocalTarget target) {
        GatewayCommand flags = new GatewayCommand();
        flags.configFile = target.configFile;
        flags.state = target.state;
        return flags.settings();
    }
}
