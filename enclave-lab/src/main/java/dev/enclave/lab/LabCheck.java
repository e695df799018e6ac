package dev.enclave.lab;

import java.util.Map;

/**
 * One row of the verification matrix: an attempt (run from the app's side as its unprivileged
 * user, or from the internet), what each design should make of it and why, and the probe that
 * makes the attempt and reports what happened with evidence.
 *
 * @param id          stable name, used in JSON and JUnit
 * @param description the attempt, in words
 * @param from        where the attempt is made
 * @param expected    per design name, the expected result and its reason
 * @param probe       makes the attempt
 * @param alone       runs after all the others, on its own: it changes the lab's internet while it runs
 */
public record LabCheck(String id, String description, From from, Map<String, Expectation> expected, Probe probe, boolean alone) {
    /** Where an attempt is made from. */
    public enum From {
        /** Inside enclave-app, as the app's user, with the app's environment. */
        APP("app"),
        /** Inside enclave-net: someone on the internet. */
        INTERNET("internet");

        private final String label;

        From(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** Makes the attempt. Never throws for an outcome: a refused connection is an observation. */
    public interface Probe {
        Observation run(LabContext lab) throws Exception;
    }

    public LabCheck {
        expected = Map.copyOf(expected);
    }

    /** A check that may run at the same time as others. */
    public LabCheck(String id, String description, From from, Map<String, Expectation> expected, Probe probe) {
        this(id, description, from, expected, probe, false);
    }

    /** The expectation for {@code design}, or null when this check does not apply to it. */
    public Expectation expectation(LabDesign design) {
        return expected.get(design.name());
    }
}
