package dev.enclave.cli;

/** The CLI contract: 0 ok, 1 a check failed, 2 bad usage or config. */
final class ExitCodes {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;

    private ExitCodes() {
    }
}
