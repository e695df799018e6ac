package dev.enclave.egress.relay;

/**
 * The API key cannot be used: one line naming the variable or file, what is wrong and the fix.
 * The message never contains the key. The CLI prints it and exits 2.
 */
public final class RelayKeyException extends Exception {
    private static final long serialVersionUID = 1L;

    public RelayKeyException(String message) {
        super(message, null, false, false);
    }
}
