package dev.enclave.gateway.auth;

import java.io.IOException;
import java.net.InetAddress;
import java.util.Optional;

/**
 * Passwords checked against the argon2id users file ({@code enclave users ...}). An unknown user
 * costs the same hash as a known one (no timing oracle for user names). After a successful login
 * with an imported bcrypt/apr1 hash, or one with weaker parameters, a new argon2id hash is stored
 * (only if nobody changed it meanwhile).
 */
public final class UsersFileCheck implements PasswordCheck {
    private final Authenticator.UsersFile users;
    private final PasswordHasher hasher;
    private final String dummyHash;

    public UsersFileCheck(Authenticator.UsersFile users, PasswordHasher hasher) {
        this.users = users;
        this.hasher = hasher;
        this.dummyHash = hasher.hash("enclave-dummy-password-for-unknown-users".toCharArray());
    }

    @Override
    public String kind() {
        return "users_file";
    }

    /** Reads the users file now, so a broken one stops start-up with its line number instead of every login. */
    @Override
    public void validate() throws UserFileException, IOException {
        users.current();
    }

    @Override
    public Optional<String> cacheVersion(String user) throws UserFileException, IOException {
        return users.current().hashOf(user);
    }

    @Override
    public Verdict check(InetAddress source, String user, char[] password, Optional<String> stored) throws IOException {
        if (stored.isEmpty()) {
            hasher.verify(password, dummyHash); // same cost as a real user: the answer time says nothing
            return Verdict.WRONG_PASSWORD;
        }
        if (!hasher.verify(password, stored.get())) {
            return Verdict.WRONG_PASSWORD;
        }
        if (hasher.needsRehash(stored.get())) {
            String old = stored.get();
            String fresh = hasher.hash(password);
            try {
                UserStore.update(users.path(), s -> s.hashOf(user).filter(old::equals).isPresent() ? s.with(user, fresh) : s);
                users.forget(); // read at once, so a session made for this login is bound to the new hash
            } catch (UserFileException e) {
                // The login stands; the rehash waits for the next one.
            }
        }
        return Verdict.ACCEPTED;
    }
}
