package dev.enclave.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigValuesTest {

    @ParameterizedTest(name = "\"{0}\" is {1}")
    @CsvSource({
            "500ms, PT0.5S",
            "0s, PT0S",
            "30s, PT30S",
            "10m, PT10M",
            "1h, PT1H",
            "7d, PT168H",
            "999999999s, PT277777H46M39S",
    })
    void parsesDurationsWithOneUnit(String text, Duration expected) {
        assertThat(ConfigValues.duration(text)).isEqualTo(expected);
    }

    @ParameterizedTest(name = "duration \"{0}\" is refused")
    @ValueSource(strings = {"10 minutes", "10", "10M", "1h30m", "-1s", "+1s", "1.5s", "s", "", " 10s", "10s ",
            "1000000000s", "10sec", "1w"})
    void refusesDurationsItCannotReadExactly(String text) {
        assertThatThrownBy(() -> ConfigValues.duration(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("bad duration \"" + text + "\"; write a number and a unit: 500ms, 30s, 10m, 1h, 7d");
    }

    @ParameterizedTest(name = "\"{0}\" is {1} bytes")
    @CsvSource({"0, 0", "65536, 65536", "100B, 100", "64KiB, 65536", "1MiB, 1048576", "999999999MiB, 1048575998951424"})
    void parsesSizes(String text, long expected) {
        assertThat(ConfigValues.size(text)).isEqualTo(expected);
    }

    @ParameterizedTest(name = "size \"{0}\" is refused")
    @ValueSource(strings = {"64kb", "64KB", "1GiB", "1 MiB", "-1", "1.5MiB", "", "MiB", "1000000000"})
    void refusesSizesItCannotReadExactly(String text) {
        assertThatThrownBy(() -> ConfigValues.size(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("bad size \"" + text + "\"; write bytes or a number with KiB or MiB, e.g. 32KiB");
    }

    @Test
    void parsesNumericSocketAddresses() {
        InetSocketAddress v4 = ConfigValues.socketAddress("10.77.1.1:3128");
        assertThat(v4.getAddress().getHostAddress()).isEqualTo("10.77.1.1");
        assertThat(v4.getPort()).isEqualTo(3128);
        assertThat(v4.isUnresolved()).isFalse();

        InetSocketAddress v6 = ConfigValues.socketAddress("[::1]:3128");
        assertThat(v6.getAddress().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:1");
        assertThat(v6.getPort()).isEqualTo(3128);

        assertThat(ConfigValues.socketAddress("0.0.0.0:65535").getPort()).isEqualTo(65535);
        assertThat(ConfigValues.socketAddress("127.0.0.1:0").getPort()).as("port 0 binds an ephemeral port").isZero();
    }

    @ParameterizedTest(name = "socket address \"{0}\" is refused: {1}")
    @CsvSource(delimiter = '|', value = {
            "localhost:3128     | \"localhost:3128\": 'localhost' is not a numeric IP address; write IP:PORT, e.g. 127.0.0.1:3128 or [::1]:3128",
            "api.llm.test:443   | 'api.llm.test' is not a numeric IP address",
            "127.1:3128         | '127.1' is not a numeric IP address",
            "010.0.0.1:3128     | '010.0.0.1' is not a numeric IP address",
            "127.0.0.1          | \"127.0.0.1\" has no port; write IP:PORT",
            "[::1]              | \"[::1]\" has no port; write IP:PORT",
            "::1:3128           | IPv6 addresses need brackets",
            "127.0.0.1:         | bad port ''",
            "127.0.0.1:65536    | bad port '65536'",
            "127.0.0.1:03128    | bad port '03128'",
            "127.0.0.1:+80      | bad port '+80'",
            ":3128              | '' is not a numeric IP address",
    })
    void refusesSocketAddressesThatAreNotNumericIpAndPort(String text, String message) {
        assertThatThrownBy(() -> ConfigValues.socketAddress(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }
}
