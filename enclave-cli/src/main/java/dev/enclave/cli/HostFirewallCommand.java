package dev.enclave.cli;

import dev.enclave.config.ConfigException;
import dev.enclave.config.ConfigLoader;
import dev.enclave.host.FirewallPlan;
import dev.enclave.host.HostFirewall;
import dev.enclave.host.HostFirewallException;
import dev.enclave.host.HostRuleset;
import dev.enclave.host.HostSideRuleset;
import dev.enclave.host.Ruleset;
import dev.enclave.host.netns.AppNamespace;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code enclave host render|apply|check|remove}: the app side's nftables table ({@code inet enclave}),
 * or with {@code --host-side-of NETNS} the host-side table on that app namespace's veth
 * ({@code inet enclave_host_NETNS}). Without {@code -c} the local target's defaults are used. Exit codes: 0 ok (check: no drift),
 * 1 check found drift, 2 bad config or the firewall could not be read or changed.
 */
@Command(name = "host", mixinStandardHelpOptions = true,
        description = {"The host firewall: one nftables table (inet enclave) that lets the app side reach only the",
                "egress proxy and the LLM relays, and be reached only by the gateway. Touches no other table.",
                "With --host-side-of NETNS: the table in the host's namespace on that app namespace's veth",
                "(inet enclave_host_NETNS), which root inside the app namespace cannot change."},
        subcommands = {HostFirewallCommand.Render.class, HostFirewallCommand.Apply.class,
                HostFirewallCommand.Check.class, HostFirewallCommand.Remove.class})
final class HostFirewallCommand {

    /** Options every subcommand takes. */
    static final class Target {
        @Option(names = {"-c", "--config"}, paramLabel = "FILE",
                description = "enclave.yaml (default: the local target's built-in addresses, 10.77.1.1 and 10.77.1.2).")
        Path configFile;

        @Option(names = "--netns", paramLabel = "NAME", description = "Work in this network namespace (ip netns exec NAME nft ...).")
        String netns;

        @Option(names = "--host-side-of", paramLabel = "NETNS",
                description = "The host-side table for app namespace NETNS (inet enclave_host_NETNS on veth ve-NETNS), as 'enclave up' applies it.")
        String hostSideOf;

        Ruleset ruleset() {
            FirewallPlan plan;
            try {
                plan = configFile == null ? FirewallPlan.localDefaults() : FirewallPlan.from(ConfigLoader.load(configFile));
            } catch (ConfigException e) {
                throw UserError.usage(String.join("; ", e.problems()));
            }
            return hostSideOf() == null ? HostRuleset.of(plan)
                    : HostSideRuleset.of(plan, hostSideOf, AppNamespace.hostInterfaceOf(hostSideOf));
        }

        /** The table remove deletes: needs no config. */
        String table() {
            return hostSideOf() == null ? HostRuleset.TABLE : HostSideRuleset.table(hostSideOf);
        }

        private String hostSideOf() {
            if (hostSideOf != null && !hostSideOf.matches(AppNamespace.NAME_SYNTAX)) {
                throw UserError.usage("--host-side-of " + hostSideOf + " is not an app namespace name (1-12 of a-z, 0-9 and '-'); see 'ip netns list'");
            }
            return hostSideOf;
        }

        HostFirewall firewall() {
            if (netns != null && !netns.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
                throw UserError.usage("--netns " + netns + " is not a network namespace name; see 'ip netns list'");
            }
            return HostFirewall.of(netns);
        }
    }

    @Command(name = "render", mixinStandardHelpOptions = true, description = "Print the ruleset that apply would load.")
    static final class Render implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() {
            System.out.print(target.ruleset().render());
            return ExitCodes.OK;
        }
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Load the ruleset in one transaction, replacing Enclave's table (never another); safe to repeat.")
    static final class Apply implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() {
            Ruleset ruleset = target.ruleset();
            try {
                target.firewall().apply(ruleset);
            } catch (HostFirewallException e) {
                throw UserError.usage(e.getMessage());
            }
            System.out.println("applied table " + ruleset.family() + " " + ruleset.table()
                    + (target.netns == null ? "" : " in network namespace " + target.netns));
            return ExitCodes.OK;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Compare the live table with the ruleset: prints 'ok', or every difference and exits 1.")
    static final class Check implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() {
            List<String> drift;
            try {
                drift = target.firewall().check(target.ruleset());
            } catch (HostFirewallException e) {
                throw UserError.usage(e.getMessage());
            }
            if (drift.isEmpty()) {
                System.out.println("ok: table inet " + target.table() + " is as rendered");
                return ExitCodes.OK;
            }
            for (String d : drift) {
                System.out.println("drift: " + d);
            }
            System.out.println(drift.size() + " difference" + (drift.size() == 1 ? "" : "s")
                    + "; 'enclave host apply" + (target.hostSideOf == null ? "" : " --host-side-of " + target.hostSideOf) + "' restores the table");
            return ExitCodes.FAILED;
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Delete Enclave's table and nothing else.")
    static final class Remove implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() {
            try {
                target.firewall().remove(target.table()); // reads no config: a broken file must not keep the table in place
            } catch (HostFirewallException e) {
                throw UserError.usage(e.getMessage());
            }
            System.out.println("removed table " + HostRuleset.FAMILY + " " + target.table());
            return ExitCodes.OK;
        }
    }
}
