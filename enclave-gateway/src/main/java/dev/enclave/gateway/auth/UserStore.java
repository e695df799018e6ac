package dev.enclave.gateway.auth;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The file-backed user list: one {@code name:hash} per line (argon2id; or bcrypt/apr1 imported
 * from htpasswd until the user's next login rehashes it), {@code #} comments and blank
 * lines allowed. Read strictly (a line that is not a valid entry makes the whole file unusable,
 * with its line number), refused when other users can read it, and written atomically with mode
 * 0600 (a temporary file in the same directory, fsync, rename) under an exclusive lock, so two
 * concurrent {@code enclave users} commands cannot lose each other's change.
 */
public final class UserStore {
    private static final Pattern NAME = Pattern.compile("[a-z_][a-z0-9_.-]{0,31}");
    private static final java.util.concurrent.ConcurrentMap<Path, Object> MONITORS = new java.util.concurrent.ConcurrentHashMap<>();
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private final Map<String, String> users;

    private UserStore(Map<String, String> users) {
        this.users = users;
    }

    public static UserStore empty() {
        return new UserStore(new LinkedHashMap<>());
    }

    /** Checks a user name: lower-case letters, digits, {@code _ . -}, at most 32, not starting with a digit. */
    public static void checkName(String name) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("user name \"" + name + "\" is not valid; use 1-32 of a-z 0-9 _ . - "
                    + "starting with a letter or _");
        }
    }

    /** Loads {@code file}; a missing file is an empty store. */
    public static UserStore load(Path file) throws UserFileException, IOException {
        String text;
        try {
            checkPermissions(file);
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return empty();
        }
        Map<String, String> users = new LinkedHashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = file + ":" + (i + 1);
            int colon = line.indexOf(':');
            if (colon < 0) {
                throw new UserFileException(where + ": not a name:hash entry; fix or remove the line");
            }
            String name = line.substring(0, colon);
            String hash = line.substring(colon + 1);
            try {
                checkName(name);
                PasswordHasher.check(hash, true);
            } catch (IllegalArgumentException e) {
                throw new UserFileException(where + ": " + e.getMessage() + "; fix the line or set the password again "
                        + "with 'enclave users passwd'");
            }
            if (users.putIfAbsent(name, hash) != null) {
                throw new UserFileException(where + ": user \"" + name + "\" is listed twice; keep one line");
            }
        }
        return new UserStore(users);
    }

    private static void checkPermissions(Path file) throws UserFileException, IOException {
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

    public Optional<String> hashOf(String name) {
        return Optional.ofNullable(users.get(name));
    }

    public List<String> names() {
        List<String> out = new ArrayList<>(users.keySet());
        Collections.sort(out);
        return out;
    }

    public boolean contains(String name) {
        return users.containsKey(name);
    }

    /**
     * A copy with {@code name} set to {@code hash} (added or replaced). Only argon2id is accepted
     * here; imported bcrypt/apr1 hashes come in through {@link #withImported}.
     */
    public UserStore with(String name, String hash) {
        checkName(name);
        PasswordHasher.check(hash, false);
        Map<String, String> copy = new LinkedHashMap<>(users);
        copy.put(name, hash);
        return new UserStore(copy);
    }

    /** A copy with {@code name} set to an argon2id, bcrypt or apr1 {@code hash} from an htpasswd file. */
    public UserStore withImported(String name, String hash) {
        checkName(name);
        PasswordHasher.check(hash, true);
        Map<String, String> copy = new LinkedHashMap<>(users);
        copy.put(name, hash);
        return new UserStore(copy);
    }

    /** A copy without {@code name}. */
    public UserStore without(String name) {
        Map<String, String> copy = new LinkedHashMap<>(users);
        copy.remove(name);
        return new UserStore(copy);
    }

    /** Changes one user list on disk: load, apply, save, all under the file's lock. */
    public interface Change {
        UserStore apply(UserStore current) throws UserFileException;
    }

    /** Runs {@code change} on {@code file} under an exclusive lock; returns the stored result. */
    public static UserStore update(Path file, Change change) throws UserFileException, IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path lockFile = dir.resolve(file.getFileName() + ".lock");
        // A FileLock excludes other processes only; threads of this JVM queue on a monitor first.
        synchronized (MONITORS.computeIfAbsent(lockFile, k -> new Object())) {
            try (FileChannel lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock lock = lockChannel.lock()) {
                UserStore next = change.apply(load(file));
                next.writeAtomically(file);
                return next;
            }
        }
    }

    private void writeAtomically(Path file) throws IOException {
        StringBuilder b = new StringBuilder("# Enclave users: name:argon2id-hash. Edit with 'enclave users'.\n");
        for (Map.Entry<String, String> e : users.entrySet()) {
            b.append(e.getKey()).append(':').append(e.getValue()).append('\n');
        }
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp",
                PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(StandardCharsets.UTF_8.encode(b.toString()));
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot replace " + file + " atomically: " + e.getMessage(), e);
            }
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true); // the rename itself survives a crash
            } catch (IOException ignored) {
                // some file systems cannot fsync a directory; the rename is still atomic
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
