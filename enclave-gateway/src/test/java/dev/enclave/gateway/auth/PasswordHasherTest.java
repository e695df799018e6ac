package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PasswordHasherTest {
    /**
     * Written by the reference implementation (Debian's {@code argon2} 0~20171227):
     * {@code echo -n "correct horse battery" | argon2 c29tZXNhbHQxMjM0NTY3OA -id -t 2 -m 14 -p 1 -l 32 -e}.
     */
    private static final String REFERENCE =
            "$argon2id$v=19$m=16384,t=2,p=1$YzI5dFpYTmhiSFF4TWpNME5UWTNPQQ$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880";

    private final PasswordHasher hasher = new PasswordHasher();

    @Test
    void verifiesAHashWrittenByTheReferenceImplementation() {
        assertThat(hasher.verify("correct horse battery".toCharArray(), REFERENCE)).isTrue();
        assertThat(hasher.verify("correct horse batterY".toCharArray(), REFERENCE)).isFalse();
    }

    @Test
    void newHashesUseOwaspParametersAndAFreshSalt() {
        String a = hasher.hash("a long passphrase".toCharArray());
        String b = hasher.hash("a long passphrase".toCharArray());
        assertThat(a).startsWith("$argon2id$v=19$m=19456,t=2,p=1$");
        assertThat(a).isNotEqualTo(b);
        assertThat(hasher.verify("a long passphrase".toCharArray(), a)).isTrue();
        assertThat(hasher.verify("a long passphrase".toCharArray(), b)).isTrue();
        assertThat(hasher.verify("a long passphrasf".toCharArray(), a)).isFalse();
    }

    @Test
    void nonAsciiPasswordsAreHashedAsUtf8() {
        String h = hasher.hash("pässwörd-ĳ-😀-long".toCharArray());
        assertThat(hasher.verify("pässwörd-ĳ-😀-long".toCharArray(), h)).isTrue();
        assertThat(hasher.verify("passwörd-ĳ-😀-long".toCharArray(), h)).isFalse();
    }

    @Test
    void weakerStoredParametersAskForARehash() {
        assertThat(hasher.needsRehash(REFERENCE)).isTrue(); // 16 MiB < 19 MiB
        assertThat(hasher.needsRehash(hasher.hash("x".repeat(12).toCharArray()))).isFalse();
    }

    @ParameterizedTest(name = "refuses {0}")
    @ValueSource(strings = {
        "",
        "plaintext",
        "$argon2i$v=19$m=16384,t=2,p=1$YzI5dFpYTmhiSFF4TWpNME5UWTNPQQ$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880",
        "$argon2id$v=16$m=16384,t=2,p=1$YzI5dFpYTmhiSFF4TWpNME5UWTNPQQ$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880",
        "$argon2id$v=19$m=99999999,t=2,p=1$YzI5dFpYTmhiSFF4TWpNME5UWTNPQQ$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880",
        "$argon2id$v=19$m=16384,t=999,p=1$YzI5dFpYTmhiSFF4TWpNME5UWTNPQQ$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880",
        "$argon2id$v=19$m=16384,t=2,p=1$c2FsdA$qobjb8qIJqmHui1XgsbpA+tS3zQultRzkHEAvOdi880",
        "$2y$10$abcdefghijklmnopqrstuu5Yc3L8Ay1KjZ1GyhFhhJXJ6Hb9gWNtm",
        "$apr1$abcdefgh$1234567890123456789012"})
    void refusesWhatIsNotABoundedArgon2idHash(String encoded) {
        assertThatThrownBy(() -> hasher.verify("whatever-long".toCharArray(), encoded))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
