package dev.enclave.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.config.match.HostPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ResolvePinTest {

    @Test
    void nameEqualsIpPinsTheNameOnEveryPort() {
        ResolvePin pin = ResolvePin.parse("API.LLM.Test.=127.0.0.1");
        assertThat(pin.host()).isEqualTo("api.llm.test");
        assertThat(pin.port()).isZero();
        assertThat(pin.targetPort()).isZero();
        assertThat(pin.address().getHostAddress()).isEqualTo("127.0.0.1");
        assertThat(pin.appliesTo(new HostPort("api.llm.test", 443))).isTrue();
        assertThat(pin.appliesTo(new HostPort("api.llm.test", 22))).isTrue();
        assertThat(pin.appliesTo(new HostPort("eu.api.llm.test", 443))).isFalse();
        assertThat(pin.connectPort(443)).isEqualTo(443);
    }

    @Test
    void namePortEqualsIpPortAlsoRedirectsThatPortOnly() {
        ResolvePin pin = ResolvePin.parse("api.llm.test:443=127.0.0.1:8443");
        assertThat(pin.host()).isEqualTo("api.llm.test");
        assertThat(pin.port()).isEqualTo(443);
        assertThat(pin.address().getHostAddress()).isEqualTo("127.0.0.1");
        assertThat(pin.targetPort()).isEqualTo(8443);
        assertThat(pin.appliesTo(new HostPort("api.llm.test", 443))).isTrue();
        assertThat(pin.appliesTo(new HostPort("api.llm.test", 80))).isFalse();
        assertThat(pin.connectPort(443)).isEqualTo(8443);
    }

    @Test
    void ipv6TargetsAreAccepted() {
        assertThat(ResolvePin.parse("api.llm.test=::1").address().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:1");
        ResolvePin pin = ResolvePin.parse("api.llm.test:443=[::1]:8443");
        assertThat(pin.address().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:1");
        assertThat(pin.targetPort()).isEqualTo(8443);
    }

    @ParameterizedTest(name = "pin \"{0}\" is refused: {1}")
    @CsvSource(delimiter = '|', value = {
            "api.llm.test                    | \"api.llm.test\" is not NAME=IP; write e.g. \"api.example.com=192.0.2.10\"",
            "api.llm.test=                   | '' is not a numeric IP address",
            "api.llm.test=localhost          | 'localhost' is not a numeric IP address",
            "api.llm.test=2130706433         | '2130706433' is not a numeric IP address",
            "api.llm.test=127.1              | '127.1' is not a numeric IP address",
            "api.llm.test=127.0.0.1:8443     | '127.0.0.1:8443' is not a numeric IP address",
            "api.llm.test:443=127.0.0.1      | a pin with a port needs IP:PORT on the right",
            "api.llm.test:443=[::1]          | a pin with a port needs IP:PORT on the right",
            "api.llm.test:443=127.0.0.1:0    | bad port '0'",
            "api.llm.test:0=127.0.0.1:8443   | bad port '0'",
            "api.llm.test:0443=127.0.0.1:443 | bad port '0443'",
            "=127.0.0.1                      | empty host",
            "a_b.test=127.0.0.1              | character '_'",
            "127.0.0.1=127.0.0.1             | IPv4 literal",
            "user@api.llm.test=127.0.0.1     | userinfo",
    })
    void badPinsAreRefused(String text, String message) {
        assertThatThrownBy(() -> ResolvePin.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }
}
