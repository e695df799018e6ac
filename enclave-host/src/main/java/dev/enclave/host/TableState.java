package dev.enclave.host;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One nftables table as the kernel holds it, read from {@code nft -j list table} and reduced to
 * what decides where packets go: each chain's type, hook, priority and policy, and its rules in
 * order (their expressions and comments). Handles and counter values are left out, so a table
 * that has counted packets is not drift. {@link #differences} lists every way two tables differ.
 */
record TableState(Map<String, ChainState> chains, List<String> others) {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern HANDLE = Pattern.compile("^(.*?)\\s*# handle (\\d+)$");
    private static final Pattern COUNTER = Pattern.compile("counter packets \\d+ bytes \\d+");

    record ChainState(String type, String hook, Integer prio, String policy, List<RuleState> rules) {
    }

    /** {@code key} is what is compared (expressions without counter values, and the comment); {@code text} is shown. */
    record RuleState(String key, String text) {
    }

    /**
     * @param json      output of {@code nft -j list table FAMILY NAME}
     * @param annotated output of {@code nft -a list table FAMILY NAME}, for the rules' text in messages
     */
    static TableState parse(String json, String annotated) throws HostFirewallException {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw new HostFirewallException("cannot read nft's JSON output (" + e.getMessage() + "); check that nft -j works");
        }
        Map<Long, String> textByHandle = textByHandle(annotated);
        Map<String, ChainState> chains = new LinkedHashMap<>();
        List<String> others = new ArrayList<>();
        for (JsonNode item : root.path("nftables")) {
            String kind = item.fieldNames().hasNext() ? item.fieldNames().next() : "";
            JsonNode v = item.path(kind);
            switch (kind) {
                case "metainfo", "table" -> {
                }
                case "chain" -> chains.put(v.path("name").asText(), new ChainState(
                        v.hasNonNull("type") ? v.get("type").asText() : null,
                        v.hasNonNull("hook") ? v.get("hook").asText() : null,
                        v.hasNonNull("prio") ? v.get("prio").asInt() : null,
                        v.hasNonNull("policy") ? v.get("policy").asText() : null,
                        new ArrayList<>()));
                case "rule" -> {
                    JsonNode expr = withoutCounterValues(v.path("expr").deepCopy());
                    String comment = v.hasNonNull("comment") ? v.get("comment").asText() : null;
                    String key = expr + (comment == null ? "" : " comment " + comment);
                    String text = textByHandle.getOrDefault(v.path("handle").asLong(-1), key);
                    ChainState chain = chains.get(v.path("chain").asText());
                    if (chain == null) { // nft lists chains first; a rule without one would be a bug in nft
                        throw new HostFirewallException("nft listed a rule of an unknown chain " + v.path("chain").asText());
                    }
                    chain.rules().add(new RuleState(key, text));
                }
                default -> others.add(kind + " " + v.path("name").asText());
            }
        }
        return new TableState(chains, others);
    }

    /** Every difference of {@code live} from {@code expected}, one line each; empty when they match. */
    static List<String> differences(TableState expected, TableState live) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, ChainState> e : expected.chains().entrySet()) {
            String name = e.getKey();
            ChainState want = e.getValue();
            ChainState have = live.chains().get(name);
            if (have == null) {
                out.add("chain " + name + " is missing (with its " + want.rules().size() + " rules)");
                continue;
            }
            attribute(out, name, "policy", want.policy(), have.policy());
            attribute(out, name, "hook", want.hook(), have.hook());
            attribute(out, name, "type", want.type(), have.type());
            attribute(out, name, "priority", want.prio(), have.prio());
            rules(out, name, want.rules(), have.rules());
        }
        for (Map.Entry<String, ChainState> e : live.chains().entrySet()) {
            if (!expected.chains().containsKey(e.getKey())) {
                out.add("chain " + e.getKey() + " was added (" + e.getValue().rules().size() + " rules)"
                        + (e.getValue().hook() == null ? "" : " on hook " + e.getValue().hook()));
            }
        }
        for (String other : live.others()) {
            if (!expected.others().contains(other)) {
                out.add(other + " was added");
            }
        }
        for (String other : expected.others()) {
            if (!live.others().contains(other)) {
                out.add(other + " is missing");
            }
        }
        return out;
    }

    private static void attribute(List<String> out, String chain, String what, Object want, Object have) {
        if (!java.util.Objects.equals(want, have)) {
            out.add("chain " + chain + ": " + what + " is " + have + ", expected " + want);
        }
    }

    /** Rules only in one of the lists, in chain order, by a longest common subsequence: order matters in a chain. */
    private static void rules(List<String> out, String chain, List<RuleState> want, List<RuleState> have) {
        int[][] lcs = new int[want.size() + 1][have.size() + 1];
        for (int i = want.size() - 1; i >= 0; i--) {
            for (int j = have.size() - 1; j >= 0; j--) {
                lcs[i][j] = want.get(i).key().equals(have.get(j).key()) ? lcs[i + 1][j + 1] + 1
                        : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
            }
        }
        int i = 0;
        int j = 0;
        while (i < want.size() || j < have.size()) {
            if (i < want.size() && j < have.size() && want.get(i).key().equals(have.get(j).key())) {
                i++;
                j++;
            } else if (j < have.size() && (i == want.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
                out.add("chain " + chain + ": rule added at position " + (j + 1) + ": " + have.get(j).text());
                j++;
            } else {
                out.add("chain " + chain + ": rule removed (was at position " + (i + 1) + "): " + want.get(i).text());
                i++;
            }
        }
    }

    /** Counters count packets; their values are state, not configuration. */
    private static JsonNode withoutCounterValues(JsonNode node) {
        if (node.isObject()) {
            ObjectNode o = (ObjectNode) node;
            if (o.has("counter")) {
                o.putNull("counter");
            }
            for (Iterator<JsonNode> it = o.elements(); it.hasNext(); ) {
                withoutCounterValues(it.next());
            }
        } else if (node.isArray()) {
            node.forEach(TableState::withoutCounterValues);
        }
        return node;
    }

    private static Map<Long, String> textByHandle(String annotated) {
        Map<Long, String> out = new HashMap<>();
        for (String line : annotated.split("\n")) {
            String s = line.strip();
            if (s.startsWith("table ") || s.startsWith("chain ")) {
                continue; // their handles are the table's and chains' own
            }
            Matcher m = HANDLE.matcher(s);
            if (m.matches()) {
                out.put(Long.parseLong(m.group(2)), COUNTER.matcher(m.group(1)).replaceAll("counter"));
            }
        }
        return out;
    }
}
