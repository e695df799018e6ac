package dev.enclave.config.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostPatternTest {
    private static final HostPattern EXACT = HostPattern.parse("api.llm.test:443");
    private static final HostPattern WILDCARD = HostPattern.parse("*.models.test:443");

    @Test
    void parsesExactEntry() {
        assertThat(EXACT).isEqualTo(new HostPattern("api.llm.test", false, 443));
        assertThat(EXACT).hasToString("api.llm.test:443");
    }

    @Test
    void parsesWildcardEntryAndNormalisesIt() {
        HostPattern p = HostPattern.parse("*.Models.Test.:8443");
        assertThat(p).isEqualTo(new HostPattern("models.test", true, 8443));
        assertThat(p).hasToString("*.models.test:8443");
    }

    @ParameterizedTest(name = "exact api.llm.test:443 {2} {0}:{1}")
    @CsvSource({
            "api.llm.test, 443, matches",
            "evilapi.llm.test, 443, does not match",
            "api.llm.test.evil.test, 443, does not match",
            "eu.api.llm.test, 443, does not match",
            "llm.test, 443, does not match",
            "api.llm.test, 22, does not match",
            "api.llm.test, 4443, does not match",
    })
    void exactRuleMatchesOnlyThatNameAndPort(String host, int port, String verdict) {
        assertThat(EXACT.matches(new HostPort(host, port))).isEqualTo(verdict.equals("matches"));
    }

    @ParameterizedTest(name = "wildcard *.models.test:443 {2} {0}:{1}")
    @CsvSource({
            "eu.models.test, 443, matches",
            "a.b.models.test, 443, matches",
            "models.test, 443, does not match",
            "evilmodels.test, 443, does not match",
            "models.test.evil.test, 443, does not match",
            "eu.models.test.evil.test, 443, does not match",
            "eu.models.testx, 443, does not match",
            "eu.models.test, 80, does not match",
    })
    void wildcardMatchesWholeLabelsBelowTheDomainOnItsPort(String host, int port, String verdict) {
        assertThat(WILDCARD.matches(new HostPort(host, port))).isEqualTo(verdict.equals("matches"));
    }

    @Test
    void wildcardDoesNotMatchApex() {
        assertThat(WILDCARD.matchesName("models.test")).isFalse();
        assertThat(WILDCARD.matchesName(".models.test")).isFalse();
    }

    @Test
    void matchesNameIgnoresPort() {
        assertThat(WILDCARD.matchesName("eu.models.test")).isTrue();
        assertThat(EXACT.matchesName("api.llm.test")).isTrue();
    }

    @ParameterizedTest(name = "\"{0}\" is refused: {1}")
    @CsvSource(delimiter = '|', value = {
            "*.com:443           | \"*.com:443\" covers a whole top-level domain; list exact hosts",
            "*foo.com:443        | \"*foo.com:443\": '*' is only allowed as the whole first label, e.g. \"*.example.com:443\"",
            "a.*.com:443         | \"a.*.com:443\": '*' is only allowed as the whole first label",
            "*.*.com:443         | '*' is only allowed as the whole first label",
            "*:443               | '*' is only allowed as the whole first label",
            "api.llm.test        | \"api.llm.test\" has no port; write host:port, e.g. \"api.llm.test:443\"",
            "*.models.test       | has no port; write host:port, e.g. \"*.models.test:443\"",
            "[::1]               | has no port",
            "api.llm.test:0      | \"api.llm.test:0\": bad port '0' (expected 1-65535, plain decimal)",
            "api.llm.test:0443   | bad port '0443'",
            "api.llm.test:65536  | bad port '65536'",
            "127.0.0.1:443       | \"127.0.0.1:443\" is an IP address; allow entries are names (to reach a private range through an allowed name, add allow_cidr)",
            "2130706433:443      | is an IP address; allow entries are names",
            "[::1]:443           | \"[::1]:443\" is an IP address; allow entries are names",
            "*.0.0.1:443         | is an IP address",
            "api_x.test:443      | character '_' is not allowed",
            "user@api.test:443   | userinfo",
            ":443                | empty host",
    })
    void badEntriesAreRefusedWithHowToFix(String entry, String message) {
        assertThatThrownBy(() -> HostPattern.parse(entry))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }
}
