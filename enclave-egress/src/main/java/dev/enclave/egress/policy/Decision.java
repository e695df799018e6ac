package dev.enclave.egress.policy;

/**
 * The outcome of one check. {@code rule} is the allow entry or CIDR that admitted the request
 * (null on denial); {@code detail} is request-specific context for the audit line and error body.
 */
public record Decision(Verdict verdict, Reason reason, String rule, String detail) {

    public static Decision allow(String rule, String detail) {
        return new Decision(Verdict.ALLOW, Reason.ALLOWED, rule, detail);
    }

    public static Decision deny(Reason reason, String detail) {
        return new Decision(Verdict.DENY, reason, null, detail);
    }

    public boolean proceeds() {
        return verdict.proceeds();
    }
}
