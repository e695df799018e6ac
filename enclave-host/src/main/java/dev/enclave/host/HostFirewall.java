package dev.enclave.host;

import java.util.List;

/**
 * Applies, checks and removes Enclave's tables on this host or in one network namespace. Touches
 * no other table: apply and remove name only {@code inet enclave} or a host-side
 * {@code inet enclave_host_NETNS}, check only reads.
 */
public final class HostFirewall {
    private final Nft nft;

    private HostFirewall(Nft nft) {
        this.nft = nft;
    }

    /** The firewall of this host, or of network namespace {@code netns} when it is not null. */
    public static HostFirewall of(String netns) {
        return new HostFirewall(Nft.of(netns));
    }

    /** Replaces the table with {@code ruleset} in one transaction: all of it, or (on any error) nothing. */
    public void apply(Ruleset ruleset) throws HostFirewallException {
        nft.script(ruleset.applyScript(), "the ruleset");
    }

    /**
     * Deletes Enclave's table, whatever it holds; nothing happens when it is not there. Needs no
     * config, so a broken config file never keeps the table from being removed.
     */
    public void remove() throws HostFirewallException {
        remove(HostRuleset.TABLE);
    }

    /**
     * Deletes Enclave's table {@code inet NAME} (the app side's, or a host-side one from
     * {@link HostSideRuleset#table}), whatever it holds; nothing happens when it is not there.
     */
    public void remove(String name) throws HostFirewallException {
        if (!name.equals(HostRuleset.TABLE) && !name.startsWith(HostSideRuleset.TABLE_PREFIX)) {
            throw new IllegalArgumentException("not one of Enclave's tables: " + name);
        }
        String table = HostRuleset.FAMILY + " " + name;
        nft.script("table " + table + " {}\ndelete table " + table + "\n", "removing table " + table);
    }

    /**
     * Every difference between the live table and {@code ruleset}, one line each; empty when they
     * are the same. The expected side is {@code ruleset} as the kernel itself stores it: loaded
     * into a throwaway network namespace ({@code unshare --net}) and listed back, so nft's own
     * normalisation (sets, ranges, spelling) applies to both sides alike.
     */
    public List<String> check(Ruleset ruleset) throws HostFirewallException {
        String name = ruleset.family() + " " + ruleset.table();
        List<String> list = List.of("list", "table", ruleset.family(), ruleset.table());
        Nft.Result json = nft.run(prepend("-j", list), null);
        if (json.exit() != 0) {
            if (json.output().contains("No such file or directory")) {
                String fix = ruleset.table().startsWith(HostSideRuleset.TABLE_PREFIX)
                        ? "enclave host apply --host-side-of " + ruleset.table().substring(HostSideRuleset.TABLE_PREFIX.length())
                        : "enclave host apply";
                return List.of("table " + name + " is missing; run '" + fix + "'");
            }
            throw Nft.failure(json.output(), "listing table " + name);
        }
        Nft.Result annotated = nft.run(prepend("-a", list), null);
        TableState live = TableState.parse(json.output(), annotated.exit() == 0 ? annotated.output() : "");
        return TableState.differences(expected(ruleset), live);
    }

    private static TableState expected(Ruleset ruleset) throws HostFirewallException {
        String nftPath = Nft.tool("nft");
        String marker = "--- enclave: text listing follows ---";
        String table = ruleset.family() + " " + ruleset.table();
        Nft.Result r = Nft.exec(List.of(Nft.tool("unshare"), "--net", "--", "/bin/sh", "-c",
                "\"$0\" -f - && \"$0\" -j list table " + table + " && echo '" + marker + "' && \"$0\" -a list table " + table,
                nftPath), ruleset.render(), null);
        if (r.exit() != 0) {
            if (r.output().contains("unshare")) {
                throw new HostFirewallException("cannot create a scratch network namespace to read the expected table ("
                        + r.output().strip().lines().findFirst().orElse("") + "); run as root (sudo enclave host check)");
            }
            throw Nft.failure(r.output(), "the rendered ruleset");
        }
        int at = r.output().indexOf(marker);
        return TableState.parse(r.output().substring(0, at), r.output().substring(at + marker.length()));
    }

    private static List<String> prepend(String flag, List<String> args) {
        List<String> out = new java.util.ArrayList<>();
        out.add(flag);
        out.addAll(args);
        return out;
    }
}
