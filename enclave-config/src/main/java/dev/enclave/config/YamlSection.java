package dev.enclave.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * One YAML mapping being read into records. Every problem found is recorded with its file, line
 * and dotted key path, and reading goes on, so one run reports every mistake in the file.
 */
final class YamlSection {
    private final String source;
    private final String path;
    private final List<String> problems;
    private final Map<String, NodeTuple> entries = new LinkedHashMap<>();
    private final Node node;

    private YamlSection(Node node, String source, String path, List<String> problems) {
        this.node = node;
        this.source = source;
        this.path = path;
        this.problems = problems;
    }

    /** Reads {@code node} as a mapping whose keys must all be in {@code known}. Null if it is not a mapping. */
    static YamlSection of(Node node, String source, String path, List<String> problems, Set<String> known) {
        YamlSection section = new YamlSection(node, source, path, problems);
        if (!(node instanceof MappingNode mapping)) {
            section.problem(node, path, "expected a mapping of " + String.join(", ", known));
            return null;
        }
        for (NodeTuple tuple : mapping.getValue()) {
            if (!(tuple.getKeyNode() instanceof ScalarNode keyNode)) {
                section.problem(tuple.getKeyNode(), path, "keys must be plain words");
                continue;
            }
            String key = keyNode.getValue();
            String keyPath = path.isEmpty() ? key : path + "." + key;
            if (!known.contains(key)) {
                section.problem(keyNode, keyPath, "unknown key; " + suggestion(key, known));
            } else if (section.entries.containsKey(key)) {
                section.problem(keyNode, keyPath, "duplicate key; keep one");
            } else {
                section.entries.put(key, tuple);
            }
        }
        return section;
    }

    boolean has(String key) {
        return entries.containsKey(key) && !isNull(entries.get(key).getValueNode());
    }

    /** The scalar under {@code key} parsed by {@code parser}, or {@code fallback} when absent or wrong. */
    <T> T value(String key, Function<String, T> parser, T fallback) {
        if (!has(key)) {
            return fallback;
        }
        Node node = entries.get(key).getValueNode();
        return scalar(node, child(key), parser, fallback);
    }

    <T> T required(String key, Function<String, T> parser) {
        if (!has(key)) {
            // Point at the mapping that lacks the key, so the line number still leads somewhere.
            problem(node, child(key), "missing; this key is required");
            return null;
        }
        return value(key, parser, null);
    }

    /** The sequence under {@code key}, each item parsed by {@code parser}; bad items are reported and skipped. */
    <T> List<T> list(String key, Function<String, T> parser) {
        List<T> out = new ArrayList<>();
        if (!has(key)) {
            return out;
        }
        Node node = entries.get(key).getValueNode();
        if (!(node instanceof SequenceNode seq)) {
            problem(node, child(key), "expected a list, e.g. [ \"a\", \"b\" ]");
            return out;
        }
        List<Node> items = seq.getValue();
        for (int i = 0; i < items.size(); i++) {
            T value = scalar(items.get(i), child(key) + "[" + i + "]", parser, null);
            if (value != null) {
                out.add(value);
            }
        }
        return out;
    }

    YamlSection section(String key, Set<String> known) {
        if (!has(key)) {
            return null;
        }
        return of(entries.get(key).getValueNode(), source, child(key), problems, known);
    }

    /** A sequence of mappings, e.g. {@code llm:}. */
    List<YamlSection> sections(String key, Set<String> known) {
        List<YamlSection> out = new ArrayList<>();
        if (!has(key)) {
            return out;
        }
        Node node = entries.get(key).getValueNode();
        if (!(node instanceof SequenceNode seq)) {
            problem(node, child(key), "expected a list of mappings");
            return out;
        }
        for (int i = 0; i < seq.getValue().size(); i++) {
            YamlSection s = of(seq.getValue().get(i), source, child(key) + "[" + i + "]", problems, known);
            if (s != null) {
                out.add(s);
            }
        }
        return out;
    }

    /** Records a problem about the value under {@code key} (used for cross-field checks). */
    void problemAt(String key, String message) {
        Node node = entries.containsKey(key) ? entries.get(key).getValueNode() : null;
        problem(node, child(key), message);
    }

    /** The 1-based line of the value under {@code key}, or of item {@code index} when it is a list; 0 if absent. */
    int line(String key, int index) {
        if (!has(key)) {
            return 0;
        }
        Node value = entries.get(key).getValueNode();
        if (index >= 0 && value instanceof SequenceNode seq && index < seq.getValue().size()) {
            value = seq.getValue().get(index);
        }
        return value.getStartMark().getLine() + 1;
    }

    /** Records a problem about item {@code index} of the list under {@code key} (cross-field checks). */
    void problemAt(String key, int index, String message) {
        Node value = entries.containsKey(key) ? entries.get(key).getValueNode() : null;
        if (value instanceof SequenceNode seq && index < seq.getValue().size()) {
            problem(seq.getValue().get(index), child(key) + "[" + index + "]", message);
        } else {
            problem(value, child(key), message);
        }
    }

    /** The dotted path of this section, e.g. {@code llm[1]}. */
    String path() {
        return path;
    }

    private <T> T scalar(Node node, String where, Function<String, T> parser, T fallback) {
        if (!(node instanceof ScalarNode scalar)) {
            problem(node, where, "expected a single value");
            return fallback;
        }
        try {
            return parser.apply(scalar.getValue());
        } catch (IllegalArgumentException e) {
            problem(node, where, e.getMessage());
            return fallback;
        }
    }

    private String child(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    private void problem(Node node, String where, String message) {
        String line = node == null ? "" : ":" + (node.getStartMark().getLine() + 1);
        problems.add(source + line + (where.isEmpty() ? "" : " " + where) + ": " + message);
    }

    private static boolean isNull(Node node) {
        return node instanceof ScalarNode s && Tag.NULL.equals(s.getTag());
    }

    private static String suggestion(String key, Set<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            int d = distance(key, candidate);
            if (d < bestDistance) {
                bestDistance = d;
                best = candidate;
            }
        }
        if (best != null && bestDistance <= 2) {
            return "did you mean \"" + best + "\"?";
        }
        return "expected one of " + String.join(", ", known);
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
