package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RelayKeyTest {
    private static final String KEY = "sk-proj-Zq8xT3BlbkFJ4mW9vKc2nR7pL0aYhU5eGdS1oXiB6tNf";

    @TempDir
    Path dir;

    // ---- environment variable -----------------------------------------------------------------

    @Test
    void readsTheKeyFromTheNamedVariableDroppingOneTrailingNewline() throws RelayKeyException {
        assertThat(RelayKey.fromEnv("ENCLAVE_LLM_API_KEY", Map.of("ENCLAVE_LLM_API_KEY", KEY)).value()).isEqualTo(KEY);
        assertThat(RelayKey.fromEnv("K", Map.of("K", KEY + "\n")).value()).isEqualTo(KEY);
        assertThat(RelayKey.fromEnv("K", Map.of("K", KEY + "\r\n")).value()).isEqualTo(KEY);
    }

    @Test
    void anUnsetOrEmptyVariableIsNamedInTheError() {
        assertThat(envError("ENCLAVE_LLM_API_KEY", Map.of())).isEqualTo("environment variable ENCLAVE_LLM_API_KEY is not"
                + " set; export ENCLAVE_LLM_API_KEY with the API key, or give the key in a 0600 file with --key-file");
        assertThat(envError("ENCLAVE_LLM_API_KEY", Map.of("ENCLAVE_LLM_API_KEY", ""))).isEqualTo("environment variable"
                + " ENCLAVE_LLM_API_KEY is empty; export ENCLAVE_LLM_API_KEY with the API key, or give the key in a 0600"
                + " file with --key-file");
    }

    /** In the table, LF, CR, NUL and E9 stand for those characters. */
    @ParameterizedTest(name = "\"{0}\": {1}")
    @CsvSource(delimiter = '|', value = {
        "'   '               | holds no key (empty or blank); write the API key on one line",
        "LF                  | holds no key (empty or blank); write the API key on one line",
        "KEYLFsecond line    | holds more than one line; write only the API key, on one line",
        "KEYLFLF             | holds more than one line; write only the API key, on one line",
        "KEYCR               | holds more than one line; write only the API key, on one line",
        "Bearer KEY          | the key contains a space or tab at position 7",
        "' KEY'              | the key contains a space or tab at position 1",
        "KEYNUL              | the key contains a character that is not printable ASCII at position 53",
        "KEYE9               | the key contains a character that is not printable ASCII at position 53",
    })
    void aKeyThatIsNotOneWordOnOneLineIsRefusedWithoutBeingShown(String raw, String message) {
        String value = raw.replace("KEY", KEY).replace("LF", "\n").replace("CR", "\r").replace("NUL", "\0")
                .replace("E9", "\u00e9");
        String error = envError("K", Map.of("K", value));
        assertThat(error).startsWith("environment variable K: ").contains(message).doesNotContain(KEY);
        assertThat(error).doesNotContain("\n");
    }

    // ---- file ---------------------------------------------------------------------------------

    @ParameterizedTest(name = "mode {0} is accepted")
    @ValueSource(strings = {"rw-------", "r--------", "rwx------"})
    void aKeyFileOnlyItsOwnerCanReadIsRead(String mode) throws IOException, RelayKeyException {
        Path file = keyFile(KEY + "\n", mode);
        RelayKey key = RelayKey.fromFile(file);
        assertThat(key.value()).isEqualTo(KEY);
        assertThat(key.source()).isEqualTo("file " + file);
    }

    @ParameterizedTest(name = "mode {0} ({1}) is refused")
    @CsvSource({
        "rw-r--r--, 0644, read",
        "rw-r-----, 0640, read",
        "rw----r--, 0604, read",
        "rw---x---, 0610, read",
        "rw-rw----, 0660, change or read",
        "rw-rw-rw-, 0666, change or read",
        "r-----rw-, 0406, change or read",
    })
    void aKeyFileOtherAccountsCanReadIsRefusedNamingFileModeAndFix(String mode, String octal, String verb) throws IOException {
        Path file = keyFile(KEY, mode);
        assertThat(fileError(file)).isEqualTo(file + ": mode " + octal + " lets other accounts " + verb
                + " the API key; run chmod 600 " + file);
    }

    @Test
    void aKeyFileOwnedByAnotherAccountIsRefused() throws IOException {
        assumeTrue(System.getProperty("user.name").equals("root"), "needs root to give a file to another account");
        Path file = keyFile(KEY, "rw-------");
        UserPrincipal nobody = file.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
        Files.setOwner(file, nobody);
        assertThat(fileError(file)).isEqualTo(file + ": owned by nobody, not by root (who runs Enclave); a key file"
                + " another account owns can be changed or replaced by it; run chown root " + file);
    }

    @Test
    void aSymbolicLinkIsFollowedAndTheTargetChecked() throws IOException, RelayKeyException {
        Path target = keyFile(KEY, "rw-------");
        Path link = Files.createSymbolicLink(dir.resolve("link"), target);
        assertThat(RelayKey.fromFile(link).value()).isEqualTo(KEY);

        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
        assertThat(fileError(link)).isEqualTo(link + ": mode 0644 lets other accounts read the API key; run chmod 600 " + link);
    }

    @Test
    void somethingThatIsNotAKeyFileIsRefused() throws IOException {
        Path missing = dir.resolve("missing");
        assertThat(fileError(missing)).isEqualTo(missing + ": no such file; write the API key on one line to it, then run"
                + " chmod 600 " + missing);
        Path directory = Files.createDirectory(dir.resolve("keys"));
        Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwx------"));
        assertThat(fileError(directory)).isEqualTo(directory + ": a directory; point the key file option at the file that holds the key");
        Path big = keyFile(KEY + "x".repeat(5000), "rw-------");
        assertThat(fileError(big)).isEqualTo(big + ": " + (KEY.length() + 5000) + " bytes, too big for an API key file"
                + " (at most 4096); write only the key to it");
        Path notUtf8 = dir.resolve("latin1");
        Files.write(notUtf8, new byte[] {'s', 'k', (byte) 0xe9});
        Files.setPosixFilePermissions(notUtf8, PosixFilePermissions.fromString("rw-------"));
        assertThat(fileError(notUtf8)).isEqualTo(notUtf8 + ": not UTF-8 text; write the API key on one line");
    }

    @Test
    void anEmptyOrMultiLineKeyFileIsRefusedWithoutShowingItsContent() throws IOException {
        Path empty = keyFile("", "rw-------");
        assertThat(fileError(empty)).isEqualTo(empty + ": holds no key (empty or blank); write the API key on one line");
        Path twoLines = keyFile(KEY + "\n" + KEY + "\n", "rw-------");
        String error = fileError(twoLines);
        assertThat(error).isEqualTo(twoLines + ": holds more than one line; write only the API key, on one line");
        assertThat(error).doesNotContain(KEY);
    }

    // ---- the key never shows ------------------------------------------------------------------

    @Test
    void toStringNamesSourceLengthAndFingerprintButNeverTheKey() throws RelayKeyException {
        RelayKey key = RelayKey.fromEnv("ENCLAVE_LLM_API_KEY", Map.of("ENCLAVE_LLM_API_KEY", KEY));
        assertThat(key.toString()).matches("RelayKey\\[env ENCLAVE_LLM_API_KEY, 52 chars, sha256:[0-9a-f]{8}]");
        assertThat(key.toString()).doesNotContain(KEY).doesNotContain(KEY.substring(0, 12)).doesNotContain(KEY.substring(40));
        assertThat(key.fingerprint()).isEqualTo(sha256Prefix(KEY));
        assertThat(key.toString()).endsWith("sha256:" + sha256Prefix(KEY) + "]");
        RelayKey other = RelayKey.fromEnv("K", Map.of("K", KEY + "x"));
        assertThat(other.fingerprint()).isNotEqualTo(key.fingerprint());
    }

    @Test
    void redactReplacesEveryOccurrenceOfTheKey() throws RelayKeyException {
        RelayKey key = RelayKey.fromEnv("K", Map.of("K", KEY));
        assertThat(key.redact("upstream said: Incorrect API key provided: " + KEY + " (" + KEY + ")"))
                .isEqualTo("upstream said: Incorrect API key provided: [redacted] ([redacted])");
        assertThat(key.redact("nothing secret")).isEqualTo("nothing secret");
        assertThat(key.redact(null)).isNull();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private Path keyFile(String content, String mode) throws IOException {
        Path file = Files.createTempFile(dir, "llm-key", "");
        Files.writeString(file, content, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(mode));
        return file;
    }

    private static String envError(String variable, Map<String, String> env) {
        RelayKeyException e = catchThrowableOfType(() -> RelayKey.fromEnv(variable, env), RelayKeyException.class);
        assertThat(e).as("RelayKeyException").isNotNull();
        return e.getMessage();
    }

    private static String fileError(Path file) {
        RelayKeyException e = catchThrowableOfType(() -> RelayKey.fromFile(file), RelayKeyException.class);
        assertThat(e).as("RelayKeyException for " + file).isNotNull();
        assertThat(e.getMessage()).doesNotContain(KEY).doesNotContain("\n");
        return e.getMessage();
    }

    private static String sha256Prefix(String s) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.US_ASCII));
            return String.format("%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
