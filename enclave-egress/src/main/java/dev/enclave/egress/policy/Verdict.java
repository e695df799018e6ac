package dev.enclave.egress.policy;

/** What happens to a request: allowed, denied, or allowed in report mode although enforce would deny. */
public enum Verdict {
    ALLOW("allow"), DENY("deny"), REPORT_WOULD_DENY("report_would_deny");

    private final String code;

    Verdict(String code) {
        this.code = code;
    }

    public String code() {
        return code;
    }

    /** True when the connection goes ahead. */
    public boolean proceeds() {
        return this != DENY;
    }
}
