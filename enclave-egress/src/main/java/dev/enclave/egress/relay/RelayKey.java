package dev.enclave.egress.relay;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;

/**
 * The LLM API key the relay injects, read from an environment variable or a file, never from
 * the command line (where {@code ps} shows it).
 *
 * <p>A key file must be a regular file (a symbolic link is followed, as for secrets mounted by an
 * orchestrator) owned by the user running Enclave or by root, with no group or other permission
 * bits (0600 or 0400): a key that other accounts can read is as good as leaked. The key is one
 * line of printable ASCII without spaces; one trailing newline is dropped, anything else (empty,
 * blank, several lines, control characters that would split a header) is refused.
 *
 * <p>{@link #toString()} names where the key came from, its length and the start of its SHA-256,
 * enough to tell two keys apart in a log, never the key. Every message of a
 * {@link RelayKeyException} is free of it too.
 */
public final class RelayKey {
    /** Far more than any API key; a bigger file is not a key file. */
    static final int MAX_FILE_BYTES = 4096;
    private static final Set<PosixFilePermission> GROUP_OR_OTHER = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private final String value;
    private final String source;

    private RelayKey(String value, String source) {
        this.value = value;
        this.source = source;
    }

    /** The key in {@code env.get(variable)}; pass {@code System.getenv()} in production. */
    public static RelayKey fromEnv(String variable, Map<String, String> env) throws RelayKeyException {
        String raw = env.get(variable);
        if (raw == null || raw.isEmpty()) {
            throw new RelayKeyException("environment variable " + variable + " is " + (raw == null ? "not set" : "empty")
                    + "; export " + variable + " with the API key, or give the key in a 0600 file with --key-file");
        }
        return new RelayKey(checked(raw, "environment variable " + variable), "env " + variable);
    }

    /** The key in {@code file}, after checking the file's type, owner and mode. */
    public static RelayKey fromFile(Path file) throws RelayKeyException {
        PosixFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, PosixFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new RelayKeyException(file + ": no such file; write the API key on one line to it, then run chmod 600 " + file);
        } catch (UnsupportedOperationException e) {
            throw new RelayKeyException(file + ": the file system has no Unix permissions, so the key's privacy cannot be"
                    + " checked; keep the key file on a Linux file system");
        } catch (IOException e) {
            throw new RelayKeyException(file + ": cannot read its attributes (" + e.getMessage() + "); check the path and"
                    + " its directories' permissions");
        }
        checkFile(file, attributes);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new RelayKeyException(file + ": cannot read (" + e.getMessage() + "); check that Enclave's user may read it");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new RelayKeyException(file + ": not UTF-8 text; write the API key on one line");
        }
        return new RelayKey(checked(text, file.toString()), "file " + file);
    }

    private static void checkFile(Path file, PosixFileAttributes attributes) throws RelayKeyException {
        if (!attributes.isRegularFile()) {
            String kind = attributes.isDirectory() ? "a directory" : "not a regular file";
            throw new RelayKeyException(file + ": " + kind + "; point the key file option at the file that holds the key");
        }
        if (attributes.size() > MAX_FILE_BYTES) {
            throw new RelayKeyException(file + ": " + attributes.size() + " bytes, too big for an API key file"
                    + " (at most " + MAX_FILE_BYTES + "); write only the key to it");
        }
        Set<PosixFilePermission> permissions = attributes.permissions();
        if (permissions.stream().anyMatch(GROUP_OR_OTHER::contains)) {
            throw new RelayKeyException(file + ": mode " + octal(permissions) + " lets other accounts "
                    + (permissions.contains(PosixFilePermission.GROUP_WRITE) || permissions.contains(PosixFilePermission.OTHERS_WRITE)
                            ? "change or read" : "read")
                    + " the API key; run chmod 600 " + file, true);
        }
        String owner = attributes.owner().getName();
        String me = System.getProperty("user.name");
        if (!owner.equals(me) && !owner.equals("root")) {
            String expected = me.equals("root") ? "root (who runs Enclave)" : me + " (who runs Enclave) or root";
            throw new RelayKeyException(file + ": owned by " + owner + ", not by " + expected + "; a key file another"
                    + " account owns can be changed or replaced by it; run chown " + me + " " + file, true);
        }
    }

    /** Drops one trailing newline and refuses anything that is not one line of printable ASCII. */
    private static String checked(String raw, String where) throws RelayKeyException {
        String key = raw;
        if (key.endsWith("\r\n")) {
            key = key.substring(0, key.length() - 2);
        } else if (key.endsWith("\n")) {
            key = key.substring(0, key.length() - 1);
        }
        if (key.isBlank()) {
            throw new RelayKeyException(where + ": holds no key (empty or blank); write the API key on one line");
        }
        if (key.indexOf('\n') >= 0 || key.indexOf('\r') >= 0) {
            throw new RelayKeyException(where + ": holds more than one line; write only the API key, on one line");
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c <= ' ' || c > '~') {
                String what = c == ' ' || c == '\t' ? "a space or tab" : "a character that is not printable ASCII";
                throw new RelayKeyException(where + ": the key contains " + what + " at position " + (i + 1)
                        + "; API keys are one word, so check the file or variable for stray characters");
            }
        }
        return key;
    }

    private static String octal(Set<PosixFilePermission> permissions) {
        String rwx = PosixFilePermissions.toString(permissions);
        int mode = 0;
        for (int i = 0; i < 9; i++) {
            if (rwx.charAt(i) != '-') {
                mode |= 1 << (8 - i);
            }
        }
        return String.format("%04o", mode);
    }

    /** The key itself, for the header the relay sets; never log it. */
    public String value() {
        return value;
    }

    /** Where the key came from: {@code env VAR} or {@code file PATH}. */
    public String source() {
        return source;
    }

    /** {@code text} with every occurrence of the key replaced by {@code [redacted]}; null stays null. */
    public String redact(String text) {
        return text == null ? null : text.replace(value, "[redacted]");
    }

    /** {@code RelayKey[env ENCLAVE_LLM_API_KEY, 51 chars, sha256:ab12cd34]}. */
    @Override
    public String toString() {
        return "RelayKey[" + source + ", " + value.length() + " chars, sha256:" + fingerprint() + "]";
    }

    /** The first 8 hex digits of the key's SHA-256: tells keys apart, reveals nothing usable. */
    public String fingerprint() {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(digest, 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
