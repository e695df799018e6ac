package dev.enclave.config;

import dev.enclave.config.match.HostName;
import dev.enclave.config.match.HostPattern;
import dev.enclave.config.match.HostSyntaxException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Locale;

/**
 * Checks between the {@code llm:} entries and the rest of the file, run once every value is valid.
 *
 * <ol>
 *   <li>A relayed upstream's name is not on {@code egress.allow} on any port: a CONNECT to it would
 *       let the agent call the same API around the relay, with a key of its own choosing.</li>
 *   <li>Two entries that listen on the same address share one listener, which routes each call by
 *       its path: both list {@code paths}, no prefix of one is at or below a prefix of the other
 *       (otherwise the relay could not tell which upstream a call is for), and both give the same
 *       {@code limits} (a listener has one set).</li>
 *   <li>A wildcard address ({@code 0.0.0.0}, {@code [::]}) and another address on the same port
 *       cannot both be bound: refused, naming both entries.</li>
 * </ol>
 */
final class LlmCrossCheck {
    private LlmCrossCheck() {
    }

    static void check(YamlSection egressSection, EgressConfig egress, List<YamlSection> sections, List<LlmConfig> llm) {
        for (int i = 0; i < llm.size(); i++) {
            LlmConfig entry = llm.get(i);
            YamlSection section = sections.get(i);
            if (egress != null) {
                notOnEgressAllow(egressSection, egress, section, entry);
            }
            for (int j = 0; j < i; j++) {
                distinguishable(sections.get(j), llm.get(j), section, entry);
            }
        }
    }

    private static void notOnEgressAllow(YamlSection egressSection, EgressConfig egress, YamlSection section, LlmConfig entry) {
        String host = upstreamHost(entry.upstream());
        List<HostPattern> allow = egress.allow();
        for (int k = 0; k < allow.size(); k++) {
            if (allow.get(k).matchesName(host)) {
                egressSection.problemAt("allow", k, "\"" + allow.get(k) + "\" covers " + host + ", the upstream of "
                        + section.path() + " (line " + section.line("upstream", -1) + "), so the agent could reach it around the relay"
                        + " with any key; remove it from egress.allow and let the relay be the only way there");
            }
        }
    }

    private static void distinguishable(YamlSection earlierSection, LlmConfig earlier, YamlSection section, LlmConfig entry) {
        InetSocketAddress a = earlier.listen();
        InetSocketAddress b = entry.listen();
        if (a.getPort() != b.getPort()) {
            return;
        }
        String other = earlierSection.path() + " (line " + earlierSection.line("listen", -1) + ")";
        if (!a.getAddress().equals(b.getAddress())) {
            if (a.getAddress().isAnyLocalAddress() || b.getAddress().isAnyLocalAddress()) {
                section.problemAt("listen", "listens on " + format(b) + " and " + other + " on " + format(a)
                        + ", which overlap, so both cannot be bound; give both the same listen address (to share it by"
                        + " path) or different ports");
            }
            return;
        }
        if (earlier.paths().isEmpty() || entry.paths().isEmpty()) {
            section.problemAt("listen", "listens where " + other + " does and one of them has no paths to tell them apart;"
                    + " give each entry its own listen address, or disjoint paths in both");
            return;
        }
        for (String x : earlier.paths()) {
            for (String y : entry.paths()) {
                if (overlap(x, y)) {
                    section.problemAt("listen", "listens where " + other + " does and both serve " + (x.length() <= y.length() ? y : x)
                            + " (" + x + " and " + y + "); give each entry its own listen address, or disjoint paths");
                    return;
                }
            }
        }
        if (!earlier.limits().equals(entry.limits())) {
            section.problemAt("listen", "listens where " + other + " does, so they share one listener, but their limits differ ("
                    + describe(earlier.limits()) + " and " + describe(entry.limits()) + "); give both the same limits");
        }
    }

    private static String describe(LlmLimits l) {
        return "max_connections " + l.maxConnections() + ", head_timeout " + l.headTimeout().toMillis() + " ms";
    }

    private static String format(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    /** True when one prefix is at or below the other at a segment boundary ({@code /v1} and {@code /v1/models}). */
    static boolean overlap(String a, String b) {
        String x = a.endsWith("/") ? a.substring(0, a.length() - 1) : a;
        String y = b.endsWith("/") ? b.substring(0, b.length() - 1) : b;
        return x.equals(y) || y.startsWith(x + "/") || x.startsWith(y + "/");
    }

    /** The upstream's host name as allow entries spell names (lower case, no trailing dot). */
    static String upstreamHost(URI upstream) {
        try {
            return HostName.normalize(upstream.getHost());
        } catch (HostSyntaxException e) {
            // An IP literal: allow entries are names only, so it can never be on egress.allow.
            return upstream.getHost().toLowerCase(Locale.ROOT);
        }
    }
}
