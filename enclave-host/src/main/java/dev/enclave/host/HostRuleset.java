package dev.enclave.host;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds the app side's table, {@code inet enclave}, from a {@link FirewallPlan}. Three base chains,
 * each with policy drop: {@code output} (what this host's processes send), {@code forward} (what it
 * routes for its containers: Docker's bridges go through forward, never output) and {@code input}
 * (what may connect to it). The rules are the plan and nothing else.
 */
public final class HostRuleset {
    public static final String FAMILY = "inet";
    public static final String TABLE = "enclave";
    /** Ahead of Docker's chains (iptables-nft's filter table hooks at priority filter, 0). */
    static final String PRIORITY = "filter - 10";
    static final String METADATA = "169.254.169.254";

    private HostRuleset() {
    }

    public static Ruleset of(FirewallPlan plan) {
        return new Ruleset(FAMILY, TABLE, header(plan), List.of(output(plan), forward(plan), input(plan)));
    }

    private static List<String> header(FirewallPlan plan) {
        List<String> h = new ArrayList<>();
        h.add("Enclave host firewall for the app side (from " + plan.source() + ").");
        h.add("'enclave host apply' loads this file as one nft transaction; 'enclave host check' compares");
        h.add("the live table with it; 'enclave host remove' deletes this table and nothing else.");
        h.add("");
        h.add("The app side may open new connections only to:");
        int width = plan.destinations().stream().mapToInt(d -> d.spelled().length()).max().orElse(0);
        for (Destination d : plan.destinations()) {
            h.add("  " + pad(d.spelled(), width) + "  " + d.label() + (d.label().equals(d.from()) ? "" : " (" + d.from() + ")"));
        }
        h.add("and may accept new connections only from " + plan.gatewaySource().getHostAddress()
                + " (the gateway) on TCP port" + (plan.appPorts().size() == 1 ? " " : "s ") + ports(plan) + " (gateway.upstream).");
        h.add("Everything else meets the chains' drop policy, in particular:");
        h.add("  DNS              the egress proxy resolves names itself; a resolver would be a way out");
        h.add("  NTP              unless host.allow names a time server");
        h.add("  ICMP             no ping or traceroute out (ICMP errors about admitted connections pass");
        h.add("                   as replies)");
        h.add("  " + METADATA + "  the cloud metadata service, which hands out instance credentials:");
        h.add("                   refused first in output and forward, with its own counter");
        h.add("  IPv6             every rule that admits new traffic names an IPv4 address, so new IPv6");
        h.add("                   traffic is dropped; only loopback and replies pass");
        h.add("");
        h.add("Priority 'filter - 10' runs these chains before Docker's (iptables-nft hooks at 'filter',");
        h.add("i.e. 0) and before other tables at the default priority. A drop here is final; an accept");
        h.add("here still meets every later chain, so this table only takes away, never opens anything.");
        return h;
    }

    private static Ruleset.Chain output(FirewallPlan plan) {
        List<Ruleset.Rule> rules = new ArrayList<>();
        rules.add(metadata());
        rules.add(new Ruleset.Rule("oif \"lo\" accept", "loopback",
                List.of("Processes talking to each other on this host; loopback never leaves it.")));
        rules.addAll(conntrack());
        rules.addAll(destinations(plan));
        return new Ruleset.Chain("output", "output", PRIORITY, "drop",
                List.of("What this host's own processes send: the app and everything it starts."), rules);
    }

    private static Ruleset.Chain forward(FirewallPlan plan) {
        List<Ruleset.Rule> rules = new ArrayList<>();
        rules.add(metadata());
        rules.addAll(conntrack());
        rules.addAll(destinations(plan));
        for (int port : plan.appPorts()) {
            rules.add(new Ruleset.Rule("meta l4proto tcp ip saddr " + plan.gatewaySource().getHostAddress()
                    + " ct original proto-dst " + port + " ct state new accept", "gateway to app container",
                    List.of("The gateway to an app published from a container (docker run -p " + port + ":...): Docker",
                            "rewrites the destination, so the port the gateway asked for is read from conntrack.")));
        }
        return new Ruleset.Chain("forward", "forward", PRIORITY, "drop",
                List.of("What this host routes: containers on Docker bridges reach the world through here,",
                        "never through output, so they get the same ways out and no others."), rules);
    }

    private static Ruleset.Chain input(FirewallPlan plan) {
        List<Ruleset.Rule> rules = new ArrayList<>();
        rules.add(new Ruleset.Rule("iif \"lo\" accept", "loopback",
                List.of("Processes talking to each other on this host.")));
        rules.addAll(conntrack());
        for (int port : plan.appPorts()) {
            rules.add(new Ruleset.Rule("ip saddr " + plan.gatewaySource().getHostAddress() + " tcp dport " + port
                    + " ct state new accept", "gateway to app",
                    List.of("The gateway, and only the gateway, may connect to the app (gateway.upstream).")));
        }
        return new Ruleset.Chain("input", "input", PRIORITY, "drop",
                List.of("Who may connect to this host: replies to its own connections, and the gateway."), rules);
    }

    private static Ruleset.Rule metadata() {
        return new Ruleset.Rule("ip daddr " + METADATA + " counter drop", "metadata service refused",
                List.of("The cloud metadata service hands out the instance's credentials: never, not even on a",
                        "connection opened before this table, so this comes first. The counter shows attempts."));
    }

    private static List<Ruleset.Rule> conntrack() {
        return List.of(
                new Ruleset.Rule("ct state established,related accept", "replies",
                        List.of("Packets of connections this table already admitted, and ICMP errors about them.")),
                new Ruleset.Rule("ct state invalid drop", "invalid",
                        List.of("Packets conntrack cannot place belong to no admitted connection.")));
    }

    private static List<Ruleset.Rule> destinations(FirewallPlan plan) {
        List<Ruleset.Rule> rules = new ArrayList<>();
        for (Destination d : plan.destinations()) {
            rules.add(new Ruleset.Rule(d.match() + " accept", d.label(), List.of(why(d))));
        }
        return rules;
    }

    private static String why(Destination d) {
        if (d.from().equals("egress.listen")) {
            return "The egress proxy (" + d.from() + "): the app's way to the internet: by name, audited.";
        }
        if (d.from().startsWith("llm[")) {
            return "The LLM relay (" + d.from() + "): the LLM API, with a key the app never sees.";
        }
        return "Allowed by the operator (" + d.from() + ").";
    }

    private static String pad(String s, int width) {
        return s + " ".repeat(width - s.length());
    }

    private static String ports(FirewallPlan plan) {
        List<String> s = new ArrayList<>();
        for (int p : plan.appPorts()) {
            s.add(String.valueOf(p));
        }
        return String.join(", ", s);
    }
}
