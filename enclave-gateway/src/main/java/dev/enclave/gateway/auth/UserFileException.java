package dev.enclave.gateway.auth;

/** A users file that cannot be used as it is; the message names the file, the line and the fix. */
public final class UserFileException extends Exception {
    private static final long serialVersionUID = 1L;

    public UserFileException(String message) {
        super(message, null, false, false);
    }
}
