package dev.enclave.egress.relay;

/**
 * The API key cannot be used: one line naming the variable or file, what is wrong and the fix.
 * The message never contains the key. The CLI prints it and exits 2.
 */
public final class RelayKeyException extends Exception {
    private static final long serialVersionUID = 1L;

    private final boolean exposed;

    public RelayKeyException(String message) {
        this(message, false);
    }

    /**
     * @param exposed the key file lets other accounts read or replace it (mode, owner): a key found
     *                there must not be used, not even one read from it before
     */
    public RelayKeyException(String message, boolean exposed) {
        super(message, null, false, false);
        this.exposed = exposed;
    }

    /** Whether the key file is readable or replaceable by other accounts (not merely missing or malformed). */
    public boolean exposed() {
        return exposed;
    }
}
