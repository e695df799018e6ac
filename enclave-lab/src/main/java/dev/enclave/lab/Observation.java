package dev.enclave.lab;

/** What a check's attempt did, and the evidence: the answer, error, log line or count that shows it. */
public record Observation(Expect result, String evidence) {
    public static Observation worked(String evidence) {
        return new Observation(Expect.WORKS, evidence);
    }

    public static Observation failed(String evidence) {
        return new Observation(Expect.FAIL, evidence);
    }
}
