package dev.enclave.cli;

import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.gateway.auth.UserStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;

/**
 * The first run's login: user {@code admin} with a random password that is shown once and stored
 * only as its argon2id hash (the seed logged a different password than the one it set).
 */
final class AdminUser {
    static final String NAME = "admin";
    private static final char[] ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789".toCharArray();

    private AdminUser() {
    }

    /** Adds admin with a new random password when {@code usersFile} has no user yet; the password, or null when nothing was added. */
    static String createIfNoUsers(Path usersFile) {
        try {
            if (Files.exists(usersFile) && !UserStore.load(usersFile).names().isEmpty()) {
                return null;
            }
            String password = randomPassword();
            String hash = new PasswordHasher().hash(password.toCharArray());
            UserStore.update(usersFile, s -> s.contains(NAME) ? s : s.with(NAME, hash));
            return password;
        } catch (UserFileException e) {
            throw UserError.usage(e.getMessage());
        } catch (IOException e) {
            throw UserError.usage("cannot write " + usersFile + ": " + e.getMessage() + "; check that its directory is writable");
        }
    }

    /** Takes back the admin this run added, when the run failed before anyone could see the password. */
    static void remove(Path usersFile) {
        try {
            UserStore.update(usersFile, s -> s.contains(NAME) ? s.without(NAME) : s);
        } catch (UserFileException | IOException e) {
            System.err.println("enclave: could not remove user " + NAME + " again from " + usersFile + ": " + e.getMessage());
        }
    }

    /** 20 characters from 56 unambiguous ones: about 116 bits. */
    static String randomPassword() {
        SecureRandom random = new SecureRandom();
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            b.append(ALPHABET[random.nextInt(ALPHABET.length)]);
        }
        return b.toString();
    }
}
