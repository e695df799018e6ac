package dev.enclave.cli;

import dev.enclave.lab.LabAddresses;
import dev.enclave.lab.LabChecks;
import dev.enclave.lab.LabContext;
import dev.enclave.lab.LabDesign;
import dev.enclave.lab.LabReport;
import dev.enclave.lab.LabTopology;
import dev.enclave.lab.LabVerifier;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave lab up|verify|down}: the seed guide's verification list and the attacks on its
 * design, run automatically against real packets in three network namespaces on this host (see
 * {@link LabTopology}). The work is {@link LabRun}'s; these are the verbs.
 */
@Command(name = "lab", mixinStandardHelpOptions = true,
        description = {"A lab on this host: the internet (enclave-net: a fake LLM API, google/github/example, DNS, NTP, 8.8.8.8,",
                "instance metadata), the public side (enclave-pub: gateway, egress proxy, LLM relay) and the app (enclave-app),",
                "then the verification matrix run against it with real traffic. Needs root."},
        subcommands = {LabCommand.Up.class, LabCommand.Verify.class, LabCommand.Down.class})
final class LabCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw UserError.usage("say what to do: 'enclave lab up', 'enclave lab verify' or 'enclave lab down'");
    }

    /** Options every verb shares. */
    static class Common {
        @Option(names = "--state", paramLabel = "DIR", description = "The lab's directory: certificates, config, logs, pids (default $ENCLAVE_LAB_DIR or /var/lib/enclave-lab).")
        Path state;

        @Option(names = "--debug", description = "Print stack traces on errors.")
        boolean debug;

        Path dir() {
            return LabRun.labDir(state);
        }
    }

    @Command(name = "up", mixinStandardHelpOptions = true,
            description = "Build the lab and start everything in it; 'enclave lab verify' runs the checks, 'enclave lab down' removes it.")
    static final class Up extends Common implements Callable<Integer> {
        @Option(names = "--design", paramLabel = "NAME", description = "Which design to build: enclave (default) or seed (the seed guide's controls).")
        String design = LabDesign.ENCLAVE.name();

        @Override
        public Integer call() throws Exception {
            LabContext lab = new LabRun(dir()).up(LabRun.design(design));
            System.out.println("enclave lab: up (design " + lab.design().name() + ", state " + lab.dir() + "); gateway https://"
                    + LabAddresses.PUB + ":" + LabAddresses.GATEWAY_PORT + " as seen from enclave-net; 'enclave lab verify' runs the checks");
            return ExitCodes.OK;
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = {"Run the verification matrix and print it; exit 1 when any check's result differs from its expectation.",
                    "When no lab is up, builds one first and removes it afterwards."})
    static final class Verify extends Common implements Callable<Integer> {
        @Option(names = "--design", paramLabel = "NAME", description = "The design to build when no lab is up: enclave (default) or seed.")
        String design;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the matrix as JSON.")
        Path json;

        @Option(names = "--junit", paramLabel = "FILE", description = "Also write the matrix as JUnit XML.")
        Path junit;

        @Override
        public Integer call() throws Exception {
            LabRun run = new LabRun(dir());
            LabContext lab = run.running();
            boolean ours = lab == null;
            if (ours) {
                lab = run.up(LabRun.design(design == null ? LabDesign.ENCLAVE.name() : design));
            } else if (design != null && !design.equals(lab.design().name())) {
                throw UserError.usage("the lab that is up is design " + lab.design().name() + ", not " + design
                        + "; run 'enclave lab down' first, or drop --design");
            }
            try {
                LabReport report = LabVerifier.verify(lab, LabChecks.all());
                report.print(System.out);
                if (json != null) {
                    report.writeJson(json);
                }
                if (junit != null) {
                    report.writeJunit(junit);
                }
                return report.allPassed() ? ExitCodes.OK : ExitCodes.FAILED;
            } finally {
                if (ours) {
                    run.down();
                }
            }
        }
    }

    @Command(name = "down", mixinStandardHelpOptions = true,
            description = "Stop everything the lab started and remove its namespaces, links and rules; also after a failed 'lab up'.")
    static final class Down extends Common implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            new LabRun(dir()).down();
            return ExitCodes.OK;
        }
    }
}
