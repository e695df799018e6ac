package dev.enclave.egress.relay;

import dev.enclave.audit.AuditLog;
import java.util.List;
import java.util.Set;
import java.util.StringJoiner;

/**
 * What one listener serves: one or more upstreams, each with its own path prefixes (disjoint across
 * upstreams), key, auth header and observers. A call goes to the one upstream whose prefix covers
 * its path; a path no upstream covers is refused (403) and reaches none of them. Pure: no I/O.
 */
final class RelayRouter {
    /** Refusals decided before any prefix is looked at: the same for every upstream, so no upstream is named. */
    private static final Set<String> BEFORE_PREFIX = Set.of("not_a_path", "fragment", "path_not_canonical");
    private static final String NOT_ALLOWED = "path_not_allowed";

    /**
     * @param runtime the upstream the call is for; null when the path is none of theirs (or, with
     *                several upstreams, the target was refused before any prefix was looked at)
     */
    record Routed(RelayRuntime runtime, RelayPathPolicy.Outcome outcome) {
    }

    private final String listen;
    private final List<RelayRuntime> runtimes;
    private final AuditLog audit;
    private final RelayPathPolicy.Refused noneCovers;

    RelayRouter(String listen, List<RelayRuntime> runtimes, AuditLog audit) {
        if (runtimes.isEmpty()) {
            throw new IllegalArgumentException("a relay listener needs at least one upstream");
        }
        this.listen = listen;
        this.runtimes = List.copyOf(runtimes);
        this.audit = audit;
        StringJoiner allowed = new StringJoiner(", ");
        runtimes.forEach(rt -> rt.paths().routes().forEach(r -> allowed.add(r.prefix())));
        noneCovers = new RelayPathPolicy.Refused(403, NOT_ALLOWED,
                "path is not on the relay's allowlist (allowed: " + allowed + ")", null);
    }

    /**
     * Refuses upstreams on one listener whose prefixes overlap (one at or below another): the
     * listener could not tell which upstream such a call is for.
     *
     * @throws IllegalArgumentException naming both upstreams and both prefixes
     */
    static void checkDisjoint(List<RelaySettings> entries) {
        for (int i = 0; i < entries.size(); i++) {
            for (int j = 0; j < i; j++) {
                for (RelayRoute a : entries.get(j).routes()) {
                    for (RelayRoute b : entries.get(i).routes()) {
                        if (a.covers(b.prefix()) || b.covers(a.prefix())) {
                            throw new IllegalArgumentException("upstreams " + entries.get(j).upstream() + " and "
                                    + entries.get(i).upstream() + " share a listen address and both serve " + a.prefix()
                                    + " / " + b.prefix() + "; give them disjoint paths or their own listen addresses");
                        }
                    }
                }
            }
        }
    }

    /** The listener's address, for audit lines. */
    String listen() {
        return listen;
    }

    AuditLog audit() {
        return audit;
    }

    /** The upstream a call that is refused before routing is attributed to: the only one, or none when there are several. */
    RelayRuntime only() {
        return runtimes.size() == 1 ? runtimes.get(0) : null;
    }

    Routed route(String method, String target) {
        if (runtimes.size() == 1) {
            RelayRuntime rt = runtimes.get(0);
            return new Routed(rt, rt.paths().check(method, target));
        }
        for (RelayRuntime rt : runtimes) {
            RelayPathPolicy.Outcome o = rt.paths().check(method, target);
            if (o instanceof RelayPathPolicy.Refused r) {
                if (r.code().equals(NOT_ALLOWED)) {
                    continue; // not this upstream's path: perhaps the next one's
                }
                if (BEFORE_PREFIX.contains(r.code())) {
                    return new Routed(null, o);
                }
            }
            return new Routed(rt, o);
        }
        return new Routed(null, noneCovers);
    }
}
