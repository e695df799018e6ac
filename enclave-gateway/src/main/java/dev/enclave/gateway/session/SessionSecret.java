package dev.enclave.gateway.session;

import dev.enclave.gateway.auth.UserFileException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The gateway's own 256-bit secret in {@code STATE/session-key} (mode 0600, made at first start),
 * from which the keys for credential stamps and CSRF tokens are derived. It is kept on disk so that
 * both stay valid across a restart. Whoever can read it can forge CSRF tokens, and whoever can
 * write it can end every session; so a file other users can read or write is refused.
 */
final class SessionSecret {
    static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final Pattern KEY = Pattern.compile("[A-Za-z0-9_-]{43}");
    private final Hmac root;

    private SessionSecret(byte[] secret) {
        this.root = new Hmac(secret);
    }

    /** Reads {@code file}, or creates it with a fresh random secret when it does not exist. */
    static SessionSecret open(Path file) throws UserFileException, IOException {
        try {
            return read(file);
        } catch (NoSuchFileException e) {
            create(file);
            return read(file);
        }
    }

    /** A key for one purpose, so that a value made for one use is worthless for another. */
    Hmac derive(String purpose) {
        return new Hmac(root.of(purpose.getBytes(StandardCharsets.UTF_8)));
    }

    private static SessionSecret read(Path file) throws UserFileException, IOException {
        checkOwnerOnly(file);
        String text = Files.readString(file, StandardCharsets.US_ASCII).strip();
        if (!KEY.matcher(text).matches()) {
            throw new UserFileException(file + ": not a session key (one line of 43 base64url characters); delete the file "
                    + "and start the gateway again to make a new one (every browser session ends)");
        }
        return new SessionSecret(Base64.getUrlDecoder().decode(text));
    }

    private static void create(Path file) throws IOException {
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp", PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(StandardCharsets.US_ASCII.encode(Hmac.B64URL.encodeToString(secret) + "\n"));
                ch.force(true);
            }
            // No replace: when another gateway made one first, both use that one.
            Files.move(tmp, file);
        } catch (FileAlreadyExistsException e) {
            // read below
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Refuses a file that users other than its owner may read or write. */
    static void checkOwnerOnly(Path file) throws UserFileException, IOException {
        Set<PosixFilePermission> perms;
        try {
            perms = Files.getPosixFilePermissions(file);
        } catch (UnsupportedOperationException e) {
            return; // not a POSIX file system: nothing to check
        }
        for (PosixFilePermission p : perms) {
            if (!p.name().startsWith("OWNER_")) {
                throw new UserFileException(file + ": readable or writable by other users (mode "
                        + PosixFilePermissions.toString(perms) + "); run 'chmod 600 " + file + "'");
            }
        }
    }
}
