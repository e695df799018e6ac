package dev.enclave.gateway.auth;

import java.io.IOException;
import java.net.InetAddress;
import java.util.Optional;

/**
 * Where passwords are checked: the argon2id users file ({@link UsersFileCheck}) or Linux accounts
 * through PAM ({@link PamCheck}). The {@link Authenticator} wraps either with the same ban check,
 * verified-credential cache, bounded pool, lockout counting and audit.
 */
public interface PasswordCheck {

    /** The answer to one check. {@code reason} is for the audit log only; the client never sees it. */
    record Verdict(boolean accepted, String reason) {
        public static final Verdict ACCEPTED = new Verdict(true, null);
        /** Wrong password or unknown user, deliberately said no more precisely. */
        public static final Verdict WRONG_PASSWORD = new Verdict(false, null);

        /** Refused for a reason worth its own audit line (account policy, PAM trouble). */
        public static Verdict refused(String reason) {
            return new Verdict(false, reason);
        }
    }

    /** Short name for the audit log: {@code users_file} or {@code pam}. */
    String kind();

    /**
     * Runs once at start-up, so that a broken setup stops the gateway with one line naming the
     * cause and the fix instead of refusing every login later.
     */
    void validate() throws UserFileException, IOException;

    /**
     * What a cached verification of {@code user}'s password is tied to (for the users file, the
     * stored hash: a new password invalidates it). Empty: the user is unknown, nothing is cached.
     * Must be cheap and must not block: it runs on the event loop before any pool work.
     */
    Optional<String> cacheVersion(String user) throws UserFileException, IOException;

    /**
     * Checks the password; may block (hashing, PAM), so it runs only on the bounded pool.
     * {@code cacheVersion} is the value returned just before for this user. Does not keep
     * {@code password}; the caller wipes it.
     */
    Verdict check(InetAddress source, String user, char[] password, Optional<String> cacheVersion) throws IOException;
}
