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
 *   <li>Two entries that listen on the same address (a wildcard address overlaps every address on
 *       its port) both list {@code paths}, and no prefix of one is at or below a prefix of the other;
 *       otherwise the relay could not tell which upstream a call is for.</li>
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
        if (!sameListener(earlier.listen(), entry.listen())) {
            return;
        }
        String other = earlierSection.path() + " (line " + earlierSection.line("listen", -1) + ")";
        if (earlier.paths().isEmpty() || entry.paths().isEmpty()) {
            section.problemAt("listen", "listens where " + other + " does and one of them has no paths to tell them apart;"
                    + " give each entry its own listen address, or disjoint paths in both");
            return;
        }
        for (String a : earlier.paths()) {
            for (String b : entry.paths()) {
                if (overlap(a, b)) {
                    section.problemAt("listen", "listens where " + other + " does and both serve " + (a.length() <= b.length() ? b : a)
                            + " (" + a + " and " + b + "); give each entry its own listen address, or disjoint paths");
                    return;
                }
            }
        }
    }

    private static boolean sameListener(InetSocketAddress a, InetSocketAddress b) {
        return a.getPort() == b.getPort()
                && (a.getAddress().equals(b.getAddress()) || a.getAddress().isAnyLocalAddress() || b.getAddress().isAnyLocalAddress());
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
