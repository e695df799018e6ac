package dev.enclave.cli;

import dev.enclave.config.LlmConfig;
import dev.enclave.gateway.GatewaySettings;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave up}: the local target. Checks everything it needs first (root, tools, config,
 * ports) and changes nothing when one is missing; then, in one supervisor JVM, makes the app
 * namespace, applies the firewall inside it, starts the egress proxy, the LLM relay and the
 * gateway, and runs the app in the namespace as an unprivileged user. In the background by default:
 * the supervisor is this command again with {@code --foreground}, in its own session, logging to
 * STATE/logs/enclave.log.
 */
@Command(name = "up", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Bring the local target up: the app in network namespace enclave-app (10.77.1.2), reachable only",
                "through the gateway (https://0.0.0.0:8443) and reaching only the egress proxy and the LLM relay (10.77.1.1).",
                "Without -c the config is STATE/enclave.yaml, written from the built-in defaults on first run.",
                "The first run adds user admin with a random password, printed once. Needs root."})
final class UpCommand implements Callable<Integer> {
    private static final long READY_TIMEOUT_SECONDS = 180;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "enclave.yaml (default: STATE/enclave.yaml, written from the defaults when missing).")
    Path configFile;

    @Option(names = "--state", paramLabel = "DIR", description = "State directory: config, users, certificate, logs, audit, pids (default $ENCLAVE_STATE_DIR or /var/lib/enclave).")
    Path state;

    @Option(names = "--foreground", description = "Stay in the foreground until Ctrl-C or SIGTERM (default: run in the background).")
    boolean foreground;

    @Option(names = "--netns", hidden = true, paramLabel = "NAME", description = "Name of the app namespace (tests; default enclave-app).")
    String netns;

    @Option(names = "--detached", hidden = true, description = "Set by up itself on the background supervisor it starts.")
    boolean detached;

    @Option(names = "--debug", description = "Print stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        Path stateDir = LocalTarget.stateDir(state);
        Prerequisites.privileges("up");
        Prerequisites.tools();
        Optional<UpState> running = UpState.read(stateDir);
        if (running.isPresent() && running.get().supervisorAlive()) {
            System.out.println("enclave is already up (supervisor pid " + running.get().pid() + ", state " + stateDir
                    + "); 'enclave status' shows its parts, 'enclave down' stops it");
            return ExitCodes.OK;
        }
        LocalTarget target = LocalTarget.load(stateDir, configFile, netns, true);
        if (target.namespace.exists() || target.namespace.hostInterfaceExists()) {
            throw UserError.usage("network namespace " + target.namespace.name() + " (or its veth " + target.namespace.hostInterface()
                    + ") exists but no Enclave supervisor runs for " + stateDir + "; remove the leftover with 'enclave down"
                    + (state == null ? "" : " --state " + stateDir) + "'");
        }
        GatewaySettings gateway = gatewaySettings(target);
        checkPorts(target, gateway);
        try {
            LocalTarget.makeStateDir(stateDir);
        } catch (IOException e) {
            throw UserError.usage("cannot create state directory " + stateDir + ": " + e.getMessage() + "; choose another with --state DIR");
        }
        if (detached) {
            return supervise(target, null); // the parent made the admin user and prints its password
        }
        String password = gateway.pam() == null ? AdminUser.createIfNoUsers(gateway.users()) : null;
        try {
            return foreground ? supervise(target, password) : detach(target, password, gateway.users());
        } catch (RuntimeException e) {
            if (password != null) {
                AdminUser.remove(gateway.users()); // nobody has seen it: the next up makes a new one
            }
            throw e;
        }
    }

    private static GatewaySettings gatewaySettings(LocalTarget target) {
        GatewayCommand flags = new GatewayCommand();
        flags.configFile = target.configFile;
        flags.state = target.state;
        return flags.settings();
    }

    private static void checkPorts(LocalTarget target, GatewaySettings gateway) {
        List<InetSocketAddress> wanted = new ArrayList<>();
        List<String> what = new ArrayList<>();
        wanted.add(gateway.listen());
        what.add("gateway.listen");
        if (gateway.redirectHttp() != null) {
            wanted.add(gateway.redirectHttp());
            what.add("gateway.redirect_http");
        }
        wanted.add(target.egressAddress());
        what.add("egress.listen");
        for (int i = 0; i < target.config.llm().size(); i++) {
            LlmConfig llm = target.config.llm().get(i);
            wanted.add(llm.listen());
            what.add("llm[" + i + "].listen");
        }
        List<String> busy;
        try {
            busy = Prerequisites.portsInUse(wanted, what);
        } catch (IOException e) {
            throw UserError.usage("cannot read the listening ports (" + e.getMessage() + "); is /proc mounted?");
        }
        if (!busy.isEmpty()) {
            throw UserError.usage("port in use: " + String.join(", ", busy) + "; stop what listens there (ss -ltnp shows it) or change it in "
                    + target.configFile);
        }
    }

    /** Runs the supervisor in this process until SIGTERM or Ctrl-C. */
    private int supervise(LocalTarget target, String password) throws Exception {
        PrintStream out = System.out;
        LocalDeployment deployment = new LocalDeployment(target, out);
        deployment.start();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            out.println("enclave: stopping");
            deployment.close();
            out.println("enclave: stopped; network namespace " + target.namespace.name() + " removed");
            out.flush();
            stopped.countDown();
        }, "enclave-up-shutdown"));
        for (String part : deployment.parts()) {
            out.println("enclave: " + part);
        }
        out.flush(); // before the readiness file: the waiting parent copies these lines from the log
        try {
            deployment.writeUpFile(ProcessHandle.current().pid());
        } catch (IOException e) {
            throw UserError.usage("cannot write " + target.upFile() + ": " + e.getMessage());
        }
        out.println("enclave: up (supervisor pid " + ProcessHandle.current().pid() + ", state " + target.state + ")");
        if (password != null) {
            printPassword(out, password, gatewaySettings(target).users());
        }
        out.flush();
        stopped.await();
        return ExitCodes.OK;
    }

    /** Starts the supervisor in its own session and waits until it is up or has failed. */
    private int detach(LocalTarget target, String password, Path users) throws Exception {
        Path log = target.logDir().resolve("enclave.log");
        LocalTarget.makePrivateDir(target.logDir());
        long from = Files.exists(log) ? Files.size(log) : 0;
        List<String> cmd = new ArrayList<>();
        cmd.add(dev.enclave.host.Nft.tool("setsid"));
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of("up", "--foreground", "--detached", "--state", target.state.toString()));
        if (configFile != null) {
            cmd.addAll(List.of("-c", target.configFile.toString()));
        }
        if (netns != null) {
            cmd.addAll(List.of("--netns", netns));
        }
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(READY_TIMEOUT_SECONDS);
        while (true) {
            Optional<UpState> up = UpState.read(target.state);
            if (up.isPresent() && up.get().pid() == child.pid()) {
                break;
            }
            if (!child.isAlive()) {
                String said = newLines(log, from).stream().filter(l -> l.startsWith("enclave: ")).reduce((a, b) -> b)
                        .map(l -> l.substring("enclave: ".length())).orElse("the supervisor exited " + child.exitValue() + "; see " + log);
                throw new UserError(said, child.exitValue() == 0 ? ExitCodes.FAILED : child.exitValue());
            }
            if (System.nanoTime() > deadline) {
                child.destroy(); // SIGTERM: it undoes what it made
                child.waitFor(30, TimeUnit.SECONDS);
                throw UserError.usage("not up within " + READY_TIMEOUT_SECONDS + " s; stopped again; see " + log);
            }
            Thread.sleep(100); // polling the supervisor's readiness file, not asserting anything
        }
        for (String line : newLines(log, from)) {
            if (line.startsWith("enclave: ") && !line.startsWith("enclave: up ")) {
                System.out.println(line);
            }
        }
        System.out.println("enclave: up in the background (supervisor pid " + child.pid() + ", log " + log
                + "); 'enclave status' checks it, 'enclave down' stops it");
        if (password != null) {
            printPassword(System.out, password, users);
        }
        return ExitCodes.OK;
    }

    private static void printPassword(PrintStream out, String password, Path users) {
        out.println("enclave: created user " + AdminUser.NAME + " with password " + password);
        out.println("enclave: it is shown only this once and stored only as a hash; change it with 'enclave users passwd "
                + AdminUser.NAME + " --users " + users + "'");
    }

    private static List<String> newLines(Path log, long from) throws IOException {
        byte[] all = Files.readAllBytes(log);
        return new String(all, (int) Math.min(from, all.length), (int) Math.max(0, all.length - from), StandardCharsets.UTF_8).lines().toList();
    }
}
