package dev.enclave.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code enclave} command. Exit codes: 0 ok, 1 a check failed, 2 bad usage or config.
 * Errors are one line naming cause and fix; {@code --debug} adds stack traces.
 */
@Command(name = "enclave", mixinStandardHelpOptions = true, version = "enclave 0.1.0",
        description = "Runs a self-hosted AI agent that only authenticated people can reach and that can reach nothing but its LLM API.",
        subcommands = {UpCommand.class, DownCommand.class, StatusCommand.class, EgressCommand.class, RelayCommand.class, GatewayCommand.class, HostFirewallCommand.class, UsersCommand.class, BansCommand.class, SessionsCommand.class, ConfigCommand.class, DemoAppCommand.class, LabCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        if (System.getProperty("io.netty.machineId") == null) {
            // Netty tags channel ids with the machine's MAC address and, where there is none (a
            // network namespace or container with only loopback), prints a warning before falling
            // back to random bytes; give it the random bytes so errors stay one line.
            byte[] id = new byte[8];
            new java.security.SecureRandom().nextBytes(id);
            System.setProperty("io.netty.machineId", java.util.HexFormat.ofDelimiter(":").formatHex(id));
        }
        System.exit(run(args));
    }

    static int run(String... args) {
        boolean debug = java.util.Arrays.asList(args).contains("--debug");
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((ex, a) -> {
            ex.getCommandLine().getErr().println("enclave: " + ex.getMessage()
                    + "; see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'");
            return ExitCodes.USAGE;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof UserError ue) {
                commandLine.getErr().println("enclave: " + ue.getMessage());
                return ue.exitCode();
            }
            if (debug) {
                ex.printStackTrace(commandLine.getErr());
            } else {
                commandLine.getErr().println("enclave: unexpected error: " + ex + " (run with --debug for details)");
            }
            return ExitCodes.FAILED;
        });
        return cli.execute(args);
    }
}
