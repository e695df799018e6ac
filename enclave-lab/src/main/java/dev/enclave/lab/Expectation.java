package dev.enclave.lab;

/**
 * What one design should make of one check, and why: the reason is shown in the table's expected
 * column, and says so where the design deliberately departs from the seed guide's list.
 */
public record Expectation(Expect result, String reason) {
    public static Expectation works(String reason) {
        return new Expectation(Expect.WORKS, reason);
    }

    public static Expectation fails(String reason) {
        return new Expectation(Expect.FAIL, reason);
    }
}
