package dev.enclave.cli;

import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code enclave config check}: loads and validates a config file without running anything. */
@Command(name = "config", mixinStandardHelpOptions = true, description = "Work with enclave.yaml.",
        subcommands = ConfigCommand.Check.class)
final class ConfigCommand {

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Validate a config file: prints 'ok', or every problem with file:line and key, and exits 2.")
    static final class Check implements Callable<Integer> {
        @Option(names = {"-c", "--config"}, required = true, paramLabel = "FILE", description = "The enclave.yaml to check.")
        Path file;

        @Override
        public Integer call() {
            try {
                ConfigLoader.load(file);
            } catch (ConfigException e) {
                for (String problem : e.problems()) {
                    System.err.println(problem);
                }
                return ExitCodes.USAGE;
            }
            System.out.println("ok");
            return ExitCodes.OK;
        }
    }
}
