package dev.enclave.cli;

import dev.enclave.gateway.session.SessionStore;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code enclave sessions list|revoke}: the gateway's browser sessions, kept in the state directory. */
@Command(name = "sessions", mixinStandardHelpOptions = true, description = "List or end the gateway's browser sessions.",
        subcommands = {SessionsCommand.List.class, SessionsCommand.Revoke.class})
final class SessionsCommand {
    static class StateOption {
        @Option(names = "--state", paramLabel = "DIR", description = "The gateway's state directory (default /var/lib/enclave).")
        Path state = Path.of("/var/lib/enclave");
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "One line per session: user, login time, last seen (as last saved, up to a minute behind).")
    static final class List extends StateOption implements Callable<Integer> {
        @Override
        public Integer call() {
            try {
                for (SessionStore.Listed s : SessionStore.list(state)) {
                    System.out.println(s.user() + " " + s.created() + " " + s.lastSeen());
                }
            } catch (IOException e) {
                throw UserError.usage("cannot read the sessions in " + state + ": " + e.getMessage());
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "End every session of USER now; a running gateway notices within a second, closing its open WebSockets "
                    + "at the next session check.")
    static final class Revoke extends StateOption implements Callable<Integer> {
        @Parameters(paramLabel = "USER")
        String user;

        @Override
        public Integer call() {
            try {
                SessionStore.revokeUser(state, user, Instant.now());
            } catch (IllegalArgumentException e) {
                throw UserError.usage(e.getMessage());
            } catch (IOException e) {
                throw UserError.usage("cannot write " + state.resolve("sessions-revoked") + ": " + e.getMessage());
            }
            System.out.println("ended every session of " + user + " (new logins still work; 'enclave users del' or a new "
                    + "password keeps them out)");
            return ExitCodes.OK;
        }
    }
}
