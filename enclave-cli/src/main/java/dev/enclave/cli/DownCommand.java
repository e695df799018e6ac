package dev.enclave.cli;

import dev.enclave.host.HostFirewall;
import dev.enclave.host.HostFirewallException;
import dev.enclave.host.HostSideRuleset;
import dev.enclave.host.netns.AppNamespace;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave down}: stops the supervisor (which stops the app, the gateway, the relay and the
 * proxy and removes the namespace), then removes whatever a crashed supervisor may have left: the
 * namespace's processes, its firewall table, the veth pair, the namespace. Keeps users, config,
 * certificate, logs and audit.
 */
@Command(name = "down", mixinStandardHelpOptions = true,
        description = {"Stop the local target and remove network namespace enclave-app, its veth pair and firewall tables.",
                "Users, config, certificate, logs and audit stay in the state directory. Needs root."})
final class DownCommand implements Callable<Integer> {
    private static final long STOP_TIMEOUT_SECONDS = 30;

    @Option(names = "--state", paramLabel = "DIR", description = "State directory (default $ENCLAVE_STATE_DIR or /var/lib/enclave).")
    Path state;

    @Option(names = "--netns", hidden = true, paramLabel = "NAME", description = "Name of the app namespace (tests; default enclave-app).")
    String netns;

    @Override
    public Integer call() throws Exception {
        Path stateDir = LocalTarget.stateDir(state);
        Prerequisites.privileges("down");
        Optional<UpState> up = UpState.read(stateDir);
        String name = up.map(UpState::netns).orElse(netns == null ? AppNamespace.DEFAULT_NAME : netns);
        boolean stopped = false;
        if (up.isPresent() && up.get().supervisorAlive()) {
            ProcessHandle supervisor = ProcessHandle.of(up.get().pid()).orElseThrow();
            supervisor.destroy(); // SIGTERM: it stops everything in order
            try {
                supervisor.onExit().get(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                supervisor.destroyForcibly();
                System.out.println("enclave: the supervisor did not stop within " + STOP_TIMEOUT_SECONDS + " s; killed it");
            }
            stopped = true;
        }
        // Whatever a killed or crashed supervisor left behind; each step does nothing when its part is gone.
        // Only the name matters for removal; the addresses are the defaults' placeholders.
        AppNamespace namespace = AppNamespace.of(name, ipv4("10.77.1.1"), ipv4("10.77.1.2"));
        boolean leftovers = namespace.exists() || namespace.hostInterfaceExists();
        try {
            LocalDeployment.killEverythingIn(name);
            if (namespace.exists()) {
                HostFirewall.of(name).remove();
            }
            namespace.destroy();
            HostFirewall.of(null).remove(HostSideRuleset.table(name)); // the host-side table: ours by its name
        } catch (HostFirewallException e) {
            throw UserError.usage(e.getMessage());
        }
        try {
            Files.deleteIfExists(stateDir.resolve("run").resolve("up.properties"));
        } catch (IOException e) {
            System.out.println("enclave: could not remove " + stateDir.resolve("run/up.properties") + ": " + e.getMessage());
        }
        if (!stopped && !leftovers) {
            System.out.println("enclave was not up (state " + stateDir + "); nothing to stop");
        } else {
            System.out.println("enclave is down: " + (stopped ? "supervisor stopped, " : "")
                    + "network namespace " + name + ", its veth pair, table inet enclave and host-side table inet " + HostSideRuleset.table(name) + " removed; users, config, logs and audit kept in " + stateDir);
        }
        return ExitCodes.OK;
    }

    private static Inet4Address ipv4(String literal) throws java.net.UnknownHostException {
        return (Inet4Address) InetAddress.getByName(literal);
    }
}
