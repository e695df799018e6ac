package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A key file read again whenever it changes, so a rotated key takes effect at the next call
 * without a restart. Before each call the file is looked at ({@code stat}: device, inode, size,
 * times, mode, owner); when anything differs from the last look it is read and checked again
 * exactly as at start ({@link RelayKey#fromFile}: regular file, mode 0600/0400, owned by Enclave's
 * user or root, one line), and one audit line says what happened ({@code key_reloaded} with the
 * new key's fingerprint, or {@code key_reload_failed} with the reason).
 *
 * <p>A failed reload is handled by what went wrong:
 * <ul>
 *   <li><b>The file lets other accounts read or replace it</b> (e.g. {@code chmod 644}, another
 *       owner): the key is no longer used, neither the new one nor the last good one, since either
 *       may be known to others now. Calls get 503 naming the file and the fix until a reload
 *       succeeds.</li>
 *   <li><b>The file is missing, unreadable or malformed</b> (the moment of an editor's save, a
 *       half-written file): calls keep the last good key; the next change is read again.</li>
 * </ul>
 * The key never appears in a message, audit line or {@code toString()}.
 */
public final class RelayKeyFile implements RelayKeySource {
    /** What is compared between looks; a change of any of them means the file was written, replaced or re-moded. */
    private static final String STAMP = "unix:dev,ino,size,lastModifiedTime,ctime,mode,uid";

    private final Path file;
    private final AuditLog audit;
    private volatile State state;

    /** The file as last read: its stamp, the key in use (null for none) and why the last read failed (null when it did not). */
    private record State(Object stamp, String key, RelayKeyException problem) {
        @Override
        public String toString() {
            return "State[" + stamp + ", " + (key == null ? "no key" : "a key") + ", " + problem + "]";
        }
    }

    private RelayKeyFile(Path file, AuditLog audit, State first) {
        this.file = file;
        this.audit = Objects.requireNonNull(audit, "audit");
        this.state = first;
    }

    /** Reads {@code file} now; a file that cannot be used is an error (the CLI exits 2 with its message). */
    public static RelayKeyFile open(Path file, AuditLog audit) throws RelayKeyException {
        RelayKeyFile f = watch(file, audit);
        State s = f.state;
        if (s.key() == null) {
            throw s.problem();
        }
        return f;
    }

    /** Reads {@code file} now if it can; until it holds a usable key, calls get 503 with the reason. */
    public static RelayKeyFile watch(Path file, AuditLog audit) {
        Object stamp = stamp(file);
        State first;
        try {
            first = new State(stamp, RelayKey.fromFile(file).value(), null);
        } catch (RelayKeyException e) {
            first = new State(stamp, null, e);
        }
        return new RelayKeyFile(file, audit, first);
    }

    public Path file() {
        return file;
    }

    @Override
    public String key() throws RelayKeyException {
        State s = state;
        Object now = stamp(file);
        if (!now.equals(s.stamp())) {
            s = reload(now);
        }
        if (s.key() == null) {
            throw s.problem();
        }
        return s.key();
    }

    private synchronized State reload(Object now) {
        State s = state;
        if (now.equals(s.stamp())) {
            return s; // another event loop read it meanwhile
        }
        State next;
        AuditEvent line;
        try {
            RelayKey k = RelayKey.fromFile(file);
            next = new State(now, k.value(), null);
            line = AuditEvent.of("relay", "key_reloaded").put("key_file", file.toString())
                    .put("fingerprint", "sha256:" + k.fingerprint());
        } catch (RelayKeyException e) {
            boolean keep = !e.exposed() && s.key() != null;
            next = new State(now, keep ? s.key() : null, e);
            line = AuditEvent.of("relay", "key_reload_failed").put("key_file", file.toString())
                    .put("reason", e.getMessage())
                    .put("action", keep ? "using the last good key until the file is right"
                            : "refusing calls (503) until the file is right");
        }
        state = next;
        try {
            audit.write(line);
        } catch (IllegalStateException unaudited) {
            // The calls themselves fail closed on an unwritable audit log; the key's state is already set.
        }
        return next;
    }

    /** What identifies the file's current version; a failure to look is a value too, so a fix shows as a change. */
    private static Object stamp(Path file) {
        try {
            return Files.readAttributes(file, STAMP);
        } catch (IOException | UnsupportedOperationException e) {
            return e.getClass().getName();
        }
    }

    @Override
    public String toString() {
        return "RelayKeyFile[" + file + "]";
    }
}
