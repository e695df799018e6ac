package dev.enclave.config;

import java.util.List;

/**
 * A config file or option that Enclave refuses. Each problem is one line of the form
 * {@code <file:line key>: <what is wrong>; <how to fix>}; the CLI prints them and exits 2.
 */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super(String.join("\n", problems), null, false, false);
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("problems: [] (expected: at least one)");
        }
        this.problems = List.copyOf(problems);
    }

    public ConfigException(String problem) {
        this(List.of(problem));
    }

    public List<String> problems() {
        return problems;
    }
}
