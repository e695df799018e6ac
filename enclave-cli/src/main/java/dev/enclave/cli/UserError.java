package dev.enclave.cli;

/** An error the operator can fix; printed as one line without a stack trace. */
final class UserError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int exitCode;

    UserError(String message, int exitCode) {
        super(message, null, false, false);
        this.exitCode = exitCode;
    }

    static UserError usage(String message) {
        return new UserError(message, ExitCodes.USAGE);
    }

    int exitCode() {
        return exitCode;
    }
}
