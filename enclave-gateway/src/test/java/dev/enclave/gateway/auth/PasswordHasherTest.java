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

    @ParameterizedTest(name = "verifies the reference {0} hash")
    @org.junit.jupiter.params.provider.CsvSource({
        // htpasswd -nbB -C 10 alice "correct horse battery" (apache2-utils 2.4.65)
        "bcrypt, $2y$10$tQofLTg6qC4b3sAQKGjlDeotFVih7RisHdLoduF8E.WWOwCd6AHmq",
        // htpasswd -nbm bob "correct horse battery"
        "apr1, $apr1$AoxggTQI$ODctZXpqrSVL68eOHrYtt0",
        // openssl passwd -apr1 -salt 8sFt66rZ "correct horse battery"
        "apr1 (openssl), $apr1$8sFt66rZ$Jvdo8BmjNf634Wz7pTrmb."})
    void verifiesImportedHtpasswdHashesAndAsksForARehash(String kind, String encoded) {
        assertThat(hasher.verify("correct horse battery".toCharArray(), encoded)).isTrue();
        assertThat(hasher.verify("correct horse batterz".toCharArray(), encoded)).isFalse();
        assertThat(hasher.verify("".toCharArray(), encoded)).isFalse();
        assertThat(hasher.needsRehash(encoded)).isTrue();
    }

    @Test
    void newPasswordsMustBeArgon2idButImportedOnesMayBeLegacy() {
        assertThatThrownBy(() -> PasswordHasher.check("$apr1$AoxggTQI$ODctZXpqrSVL68eOHrYtt0", false))
                .isInstanceOf(IllegalArgumentException.class);
        PasswordHasher.check("$apr1$AoxggTQI$ODctZXpqrSVL68eOHrYtt0", true);
        PasswordHasher.check(REFERENCE, false);
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
        "$2y$31$tQofLTg6qC4b3sAQKGjlDeotFVih7RisHdLoduF8E.WWOwCd6AHmq",
        "$2x$10$tQofLTg6qC4b3sAQKGjlDeotFVih7RisHdLoduF8E.WWOwCd6AHmq",
        "$apr1$toolongsalt$ODctZXpqrSVL68eOHrYtt0",
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "aeXfGnv3Dq0dQ"})
    void refusesWhatIsNotABoundedArgon2idHash(String encoded) {
        assertThatThrownBy(() -> hasher.verify("whatever-long".toCharArray(), encoded))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
