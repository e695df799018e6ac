package dev.enclave.host;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** How live and expected tables are compared: counters are state, rule order is configuration. */
class TableStateTest {
    private static final String ANNOTATED = """
            table inet enclave { # handle 7
            	chain output { # handle 1
            		type filter hook output priority filter - 10; policy drop;
            		ip daddr 169.254.169.254 counter packets %d bytes %d drop comment "metadata service refused" # handle 2
            		oif "lo" accept comment "loopback" # handle 3
            	}
            }
            """;

    @Test
    void countedPacketsAreNotDrift() throws Exception {
        TableState fresh = TableState.parse(json(0, 0, false), ANNOTATED.formatted(0, 0));
        TableState counted = TableState.parse(json(12, 720, false), ANNOTATED.formatted(12, 720));
        assertThat(TableState.differences(fresh, counted)).isEmpty();
    }

    @Test
    void rulesInAnotherOrderAreDriftShownAsNftPrintsThem() throws Exception {
        TableState expected = TableState.parse(json(0, 0, false), ANNOTATED.formatted(0, 0));
        TableState swapped = TableState.parse(json(5, 300, true), ANNOTATED.formatted(5, 300));
        assertThat(TableState.differences(expected, swapped)).containsExactly(
                "chain output: rule added at position 1: oif \"lo\" accept comment \"loopback\"",
                "chain output: rule removed (was at position 2): oif \"lo\" accept comment \"loopback\"");
    }

    /** The shape of nft 1.0.6's -j output for the two rules above; {@code swapped} puts loopback first. */
    private static String json(long packets, long bytes, boolean swapped) {
        String metadata = """
                {"rule": {"family": "inet", "table": "enclave", "chain": "output", "handle": 2, "comment": "metadata service refused",
                 "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "169.254.169.254"}},
                          {"counter": {"packets": %d, "bytes": %d}}, {"drop": null}]}}""".formatted(packets, bytes);
        String loopback = """
                {"rule": {"family": "inet", "table": "enclave", "chain": "output", "handle": 3, "comment": "loopback",
                 "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oif"}}, "right": "lo"}}, {"accept": null}]}}""";
        return """
                {"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
                 {"table": {"family": "inet", "name": "enclave", "handle": 7}},
                 {"chain": {"family": "inet", "table": "enclave", "name": "output", "handle": 1, "type": "filter",
                            "hook": "output", "prio": -10, "policy": "drop"}},
                """ + (swapped ? loopback + ",\n" + metadata : metadata + ",\n" + loopback) + "]}";
    }
}
