package dev.enclave.config.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class HostNameTest {

    @ParameterizedTest(name = "\"{0}\" normalises to \"{1}\"")
    @CsvSource({
            "api.llm.test, api.llm.test",
            "API.LLM.Test, api.llm.test",
            "API.LLM.Test., api.llm.test",
            "eu.models.test., eu.models.test",
            "a-b.example, a-b.example",
            "1.2.3.4.com, 1.2.3.4.com",
            "xn--pi-6kc.llm.test, xn--pi-6kc.llm.test",
            "localhost, localhost",
    })
    void normalisesNamesToOneSpelling(String raw, String expected) throws HostSyntaxException {
        assertThat(HostName.normalize(raw)).isEqualTo(expected);
    }

    @Test
    void cyrillicLookalikeBecomesPunycodeAndNeverEqualsAsciiName() throws HostSyntaxException {
        String spoof = HostName.normalize("\u0430pi.llm.test"); // Cyrillic small a
        assertThat(spoof).isEqualTo("xn--pi-6kc.llm.test").isNotEqualTo("api.llm.test");
    }

    @Test
    void fullWidthLettersFoldToAscii() throws HostSyntaxException {
        assertThat(HostName.normalize("\uff21PI.llm.test")).isEqualTo("api.llm.test");
    }

    @Test
    void fullWidthDigitsAndDotsFoldIntoAnIpLiteral() {
        assertKind("\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11", HostSyntaxException.Kind.IP_LITERAL, "IPv4 literal");
    }

    @ParameterizedTest(name = "\"{0}\" is an IP literal: {1}")
    @CsvSource(delimiter = '|', value = {
            "127.0.0.1          | IPv4 literal",
            "2130706433         | IPv4 literal",
            "0x7f000001         | IPv4 literal",
            "0X7F000001         | IPv4 literal",
            "0x7f.1             | IPv4 literal",
            "0177.0.0.1         | IPv4 literal",
            "127.1              | IPv4 literal",
            "127.0.0.1.         | IPv4 literal",
            "a.0x               | IPv4 literal",
            "[::1]              | IPv6 literal",
            "[::ffff:127.0.0.1] | IPv6 literal",
            "[fe80::1%25eth0]   | IPv6 literal",
            "::1                | IPv6 literal",
            "fe80::1%eth0       | IPv6 literal",
    })
    void ipLiteralsInEverySpellingAreNotNames(String raw, String message) {
        assertKind(raw, HostSyntaxException.Kind.IP_LITERAL, message);
    }

    @ParameterizedTest(name = "\"{0}\" is malformed: {1}")
    @CsvSource(delimiter = '|', value = {
            "api.llm.test@evil.test | userinfo ('@')",
            "@evil.test             | userinfo ('@')",
            "api%2ellm.test         | percent-escape",
            "%2e                    | percent-escape",
            "a..b                   | empty label",
            ".a.test                | empty label",
            "a.test..               | empty label",
            "a_b.test               | character '_'",
            "-a.test                | starts or ends with '-'",
            "a-.test                | starts or ends with '-'",
            "a/b.test               | character '/'",
            "a\\b.test              | character '\\'",
            "a*.test                | character '*'",
            "[::1                   | unbalanced '['",
            "[]                     | unbalanced '['",
            ".                      | empty host",
    })
    void malformedHostsAreRefusedWithTheReason(String raw, String message) {
        assertKind(raw, HostSyntaxException.Kind.MALFORMED, message);
    }

    @ParameterizedTest(name = "control or space character U+{0} is refused")
    @ValueSource(strings = {"0020", "0009", "0000", "000a", "000d", "007f"})
    void spacesAndControlCharactersAreMalformed(String hex) {
        String raw = "api" + (char) Integer.parseInt(hex, 16) + "llm.test";
        assertKind(raw, HostSyntaxException.Kind.MALFORMED, "space or control character");
    }

    @Test
    void nonAsciiControlCharacterIsMalformed() {
        assertKind("api\u0085llm.test", HostSyntaxException.Kind.MALFORMED, "not a valid internationalised name");
    }

    @Test
    void emptyAndNullHostsAreMalformed() {
        assertKind("", HostSyntaxException.Kind.MALFORMED, "empty host");
        assertKind(null, HostSyntaxException.Kind.MALFORMED, "empty host");
    }

    @Test
    void labelOf63CharactersIsAcceptedAnd64IsRefused() throws HostSyntaxException {
        String ok = "a".repeat(63) + ".test";
        assertThat(HostName.normalize(ok)).isEqualTo(ok);
        assertKind("a".repeat(64) + ".test", HostSyntaxException.Kind.MALFORMED, "label longer than 63");
    }

    @Test
    void nameOf253CharactersIsAcceptedAnd254IsRefused() throws HostSyntaxException {
        String name253 = ("a".repeat(63) + ".").repeat(3) + "b".repeat(61);
        assertThat(name253).hasSize(253);
        assertThat(HostName.normalize(name253)).isEqualTo(name253);
        assertThat(HostName.normalize(name253 + ".")).as("trailing dot is not counted").isEqualTo(name253);
        assertKind(name253 + "b", HostSyntaxException.Kind.MALFORMED, "longer than 253");
    }

    @Test
    void onlyOneTrailingDotIsRemoved() {
        assertKind("api.llm.test..", HostSyntaxException.Kind.MALFORMED, "empty label");
    }

    private static void assertKind(String raw, HostSyntaxException.Kind kind, String message) {
        assertThatThrownBy(() -> HostName.normalize(raw))
                .isInstanceOfSatisfying(HostSyntaxException.class, e -> assertThat(e.kind()).isEqualTo(kind))
                .hasMessageContaining(message);
    }
}
