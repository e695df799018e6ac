package dev.enclave.config.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostPortTest {

    @ParameterizedTest(name = "\"{0}\" parses to {1}:{2}")
    @CsvSource({
            "api.llm.test:443, api.llm.test, 443",
            "API.LLM.Test.:443, api.llm.test, 443",
            "api.llm.test:1, api.llm.test, 1",
            "api.llm.test:65535, api.llm.test, 65535",
    })
    void parsesNameAndPort(String authority, String host, int port) throws HostSyntaxException {
        HostPort parsed = HostPort.parse(authority);
        assertThat(parsed.host()).isEqualTo(host);
        assertThat(parsed.port()).isEqualTo(port);
        assertThat(parsed).hasToString(host + ":" + port);
    }

    @ParameterizedTest(name = "\"{0}\" is malformed: {1}")
    @CsvSource(delimiter = '|', value = {
            "api.llm.test          | missing port",
            "''                    | missing port",
            "api.llm.test:         | bad port ''",
            "api.llm.test:0        | bad port '0'",
            "api.llm.test:65536    | bad port '65536'",
            "api.llm.test:99999    | bad port '99999'",
            "api.llm.test:100000   | bad port '100000'",
            "api.llm.test:0443     | bad port '0443'",
            "api.llm.test:+443     | bad port '+443'",
            "api.llm.test:-1       | bad port '-1'",
            "'api.llm.test: 443'   | bad port ' 443'",
            "'api.llm.test:443 '   | bad port '443 '",
            "api.llm.test:443abc   | bad port '443abc'",
            "api.llm.test:0x1bb    | bad port '0x1bb'",
            ":443                  | empty host",
            "api.llm.test@evil.test:443 | userinfo",
    })
    void malformedAuthoritiesAreRefused(String authority, String message) {
        assertThatThrownBy(() -> HostPort.parse(authority))
                .isInstanceOfSatisfying(HostSyntaxException.class,
                        e -> assertThat(e.kind()).isEqualTo(HostSyntaxException.Kind.MALFORMED))
                .hasMessageContaining(message);
    }

    @ParameterizedTest(name = "\"{0}\" is an IP literal, never a name")
    @CsvSource({"127.0.0.1:443", "2130706433:443", "[::1]:443", "[fe80::1%25eth0]:443"})
    void ipLiteralAuthoritiesAreNotNames(String authority) {
        assertThatThrownBy(() -> HostPort.parse(authority))
                .isInstanceOfSatisfying(HostSyntaxException.class,
                        e -> assertThat(e.kind()).isEqualTo(HostSyntaxException.Kind.IP_LITERAL));
    }

    @Test
    void parsePortAcceptsTheWholeRangeEdges() throws HostSyntaxException {
        assertThat(HostPort.parsePort("1")).isEqualTo(1);
        assertThat(HostPort.parsePort("443")).isEqualTo(443);
        assertThat(HostPort.parsePort("65535")).isEqualTo(65535);
    }

    @Test
    void badPortMessageSaysWhatIsExpected() {
        assertThatThrownBy(() -> HostPort.parsePort("0"))
                .hasMessage("bad port '0' (expected 1-65535, plain decimal)");
    }

    @Test
    void constructorRefusesPortOutsideRange() {
        assertThatThrownBy(() -> new HostPort("a.test", 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected: 1-65535");
        assertThatThrownBy(() -> new HostPort("a.test", 65536)).isInstanceOf(IllegalArgumentException.class);
    }
}
