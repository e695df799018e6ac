package dev.enclave.cli;

import dev.enclave.gateway.auth.LockoutTracker;
import dev.enclave.gateway.auth.UserFileException;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code enclave bans list|unban}: the gateway's login bans, kept in the state directory. */
@Command(name = "bans", mixinStandardHelpOptions = true, description = "List or lift the gateway's login bans.",
        subcommands = {BansCommand.List.class, BansCommand.Unban.class})
final class BansCommand {
    static class StateOption {
        @Option(names = "--state", paramLabel = "DIR", description = "The gateway's state directory (default /var/lib/enclave).")
        Path state = Path.of("/var/lib/enclave");

        LockoutTracker open() {
            try {
                // Counting parameters do not matter for listing or lifting bans.
                return LockoutTracker.open(state, 5, Duration.ofMinutes(10), Duration.ofHours(1), Clock.systemUTC());
            } catch (UserFileException e) {
                throw UserError.usage(e.getMessage());
            } catch (IOException e) {
                throw UserError.usage("cannot read the bans in " + state + ": " + e.getMessage());
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "One line per ban: source and when it ends.")
    static final class List extends StateOption implements Callable<Integer> {
        @Override
        public Integer call() {
            for (LockoutTracker.Ban b : open().bans()) {
                System.out.println(b.source() + " " + b.until());
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "unban", mixinStandardHelpOptions = true, description = "Lift the ban on an address (IPv6: any address of the banned /64).")
    static final class Unban extends StateOption implements Callable<Integer> {
        @Parameters(paramLabel = "IP")
        String ip;

        @Override
        public Integer call() {
            InetAddress address = dev.enclave.config.match.IpLiteral.toAddress(ip.replace("/64", ""));
            if (address == null) {
                throw UserError.usage("\"" + ip + "\" is not an IP address; 'enclave bans list' shows the banned sources");
            }
            String key = LockoutTracker.sourceKey(address);
            try {
                if (!open().unban(key)) {
                    throw UserError.usage(key + " is not banned; 'enclave bans list' shows the banned sources");
                }
            } catch (IOException e) {
                throw UserError.usage("cannot write the bans in " + state + ": " + e.getMessage());
            }
            System.out.println("lifted the ban on " + key);
            return ExitCodes.OK;
        }
    }
}
