package dev.enclave.host;

import java.util.List;

/**
 * One nftables table as Enclave writes it: a header that says what the table is for, and its base
 * chains. {@link #render} is the text {@code enclave host render} prints and {@code apply} loads.
 */
public record Ruleset(String family, String table, List<String> header, List<Chain> chains) {

    public Ruleset {
        header = List.copyOf(header);
        chains = List.copyOf(chains);
    }

    /**
     * A base chain.
     *
     * @param why      comment lines above the chain's type line
     * @param priority nft priority expression, e.g. {@code filter - 10}
     */
    public record Chain(String name, String hook, String priority, String policy, List<String> why, List<Rule> rules) {
        public Chain {
            why = List.copyOf(why);
            rules = List.copyOf(rules);
        }
    }

    /**
     * One rule: {@code statement} is nft syntax, {@code label} the short comment the kernel keeps
     * (shown by {@code nft list}), {@code why} the comment lines above it in the rendered file.
     */
    public record Rule(String statement, String label, List<String> why) {
        public Rule {
            why = List.copyOf(why);
            if (label.length() > 120 || label.contains("\"")) {
                throw new IllegalArgumentException("rule label too long or quoted: " + label);
            }
        }

        String line() {
            return statement + " comment \"" + label + "\"";
        }
    }

    /** The table as nft reads it, with a comment above every chain and rule saying why it exists. */
    public String render() {
        StringBuilder out = new StringBuilder();
        for (String line : header) {
            out.append(line.isEmpty() ? "#" : "# " + line).append('\n');
        }
        out.append('\n').append("table ").append(family).append(' ').append(table).append(" {\n");
        for (int c = 0; c < chains.size(); c++) {
            Chain chain = chains.get(c);
            if (c > 0) {
                out.append('\n');
            }
            out.append("\tchain ").append(chain.name()).append(" {\n");
            for (String line : chain.why()) {
                out.append("\t\t# ").append(line).append('\n');
            }
            out.append("\t\ttype filter hook ").append(chain.hook()).append(" priority ").append(chain.priority())
                    .append("; policy ").append(chain.policy()).append(";\n");
            for (Rule rule : chain.rules()) {
                out.append('\n');
                for (String line : rule.why()) {
                    out.append("\t\t# ").append(line).append('\n');
                }
                out.append("\t\t").append(rule.line()).append('\n');
            }
            out.append("\t}\n");
        }
        out.append("}\n");
        return out.toString();
    }

    /**
     * The script {@code apply} runs as one nft transaction: make sure the table exists, delete it,
     * write it anew. nft applies a file whole or not at all, so the old table stays in force until
     * the new one replaces it, and a rejected file changes nothing. Other tables are not named.
     */
    public String applyScript() {
        return "table " + family + " " + table + " {}\n"
                + "delete table " + family + " " + table + "\n"
                + render();
    }
}
