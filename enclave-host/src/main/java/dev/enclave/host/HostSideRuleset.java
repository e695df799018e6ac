package dev.enclave.host;

import java.util.ArrayList;
import java.util.List;

/**
 * The second table of the local target: {@code inet enclave_host_NETNS}, in the host's own network
 * namespace, on the host end of the app namespace's veth. The app side's table ({@link HostRuleset})
 * lives inside the app namespace, where a process with CAP_NET_ADMIN there can flush it; this one
 * is out of that process's reach, so it holds whatever happens inside: from the veth, new
 * connections reach the host only at the plan's destinations (the egress proxy and the relays),
 * nothing is routed through the host (unless {@code host.allow} names it), and nothing is routed to
 * the app side (the gateway reaches it from the host itself). Every rule matches the veth's name,
 * and both chains' policy is accept: the rest of the host is not touched.
 */
public final class HostSideRuleset {
    public static final String TABLE_PREFIX = "enclave_host_";

    private HostSideRuleset() {
    }

    /** The table's name for app namespace {@code netns}: one per namespace, so two targets never share it. */
    public static String table(String netns) {
        return TABLE_PREFIX + netns;
    }

    /** The host-side table guarding {@code hostInterface}, the host end of app namespace {@code netns}'s veth. */
    public static Ruleset of(FirewallPlan plan, String netns, String hostInterface) {
        String veth = "\"" + hostInterface + "\"";
        return new Ruleset(HostRuleset.FAMILY, table(netns), header(plan, netns, hostInterface),
                List.of(input(plan, veth), forward(plan, veth)));
    }

    private static List<String> header(FirewallPlan plan, String netns, String hostInterface) {
        List<String> h = new ArrayList<>();
        h.add("Enclave's host-side table for app namespace " + netns + " (from " + plan.source() + ").");
        h.add("It lives in the host's network namespace, so root inside " + netns + " can neither see nor change it:");
        h.add("the app side's own table (inet enclave, inside " + netns + ") can be flushed from in there, this one not.");
        h.add("");
        h.add("From " + hostInterface + " (the host end of the app's veth), new connections reach only:");
        for (Destination d : plan.destinations()) {
            h.add("  " + d.spelled() + "  " + d.label());
        }
        h.add("Everything else arriving from " + hostInterface + " is dropped: the gateway's port, ssh, any other");
        h.add("service of this host, whatever address it is sent to; and nothing is routed through this host from");
        h.add(hostInterface + " or to it, even if a default route is added inside " + netns + ".");
        h.add("Every rule matches " + hostInterface + " by name and both policies are accept: no other traffic of this");
        h.add("host is touched. 'enclave down' deletes this table and nothing else.");
        return h;
    }

    private static Ruleset.Chain input(FirewallPlan plan, String veth) {
        List<Ruleset.Rule> rules = new ArrayList<>();
        rules.add(new Ruleset.Rule("iifname " + veth + " ct state established,related accept", "replies from the app side",
                List.of("Packets of connections already admitted: the app's to the proxy and relays, and the",
                        "gateway's to the app (which leave this host through output, not through here).")));
        for (Destination d : plan.destinations()) {
            rules.add(new Ruleset.Rule("iifname " + veth + " " + d.match() + " accept", d.label(),
                    List.of("New connections from the app side to " + d.spelled() + " (" + d.from() + ").")));
        }
        rules.add(new Ruleset.Rule("iifname " + veth + " counter drop", "nothing else from the app side",
                List.of("Any other port or address of this host, IPv4 or IPv6, ICMP included; the counter shows attempts.")));
        return new Ruleset.Chain("input", "input", HostRuleset.PRIORITY, "accept",
                List.of("What the app side may send to this host's own sockets."), rules);
    }

    private static Ruleset.Chain forward(FirewallPlan plan, String veth) {
        List<Ruleset.Rule> rules = new ArrayList<>();
        List<Destination> routed = plan.destinations().stream().filter(d -> d.from().startsWith("host.allow")).toList();
        if (!routed.isEmpty()) {
            rules.add(new Ruleset.Rule("iifname " + veth + " ct state established,related accept", "replies from the app side",
                    List.of("Packets of routed connections host.allow admitted.")));
            rules.add(new Ruleset.Rule("oifname " + veth + " ct state established,related accept", "replies to the app side",
                    List.of("Answers to them.")));
        }
        for (Destination d : routed) {
            rules.add(new Ruleset.Rule("iifname " + veth + " " + d.match() + " accept", d.label(),
                    List.of("Routed by this host because the operator allowed it (" + d.from() + ").")));
        }
        rules.add(new Ruleset.Rule("iifname " + veth + " counter drop", "no routing for the app side",
                List.of("The app side reaches nothing through this host, even with a default route of its own.")));
        rules.add(new Ruleset.Rule("oifname " + veth + " counter drop", "no routing to the app side",
                List.of("Nothing elsewhere reaches the app side through this host: the gateway, on this host, is the way in.")));
        return new Ruleset.Chain("forward", "forward", HostRuleset.PRIORITY, "accept",
                List.of("What this host would route from or to the app side."), rules);
    }
}
