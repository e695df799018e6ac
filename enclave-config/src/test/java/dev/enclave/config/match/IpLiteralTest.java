package dev.enclave.config.match;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.Inet6Address;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class IpLiteralTest {

    @Test
    void parsesStrictDottedQuad() {
        assertThat(IpLiteral.parse("10.0.0.1")).containsExactly(10, 0, 0, 1);
        assertThat(IpLiteral.parse("255.255.255.255")).containsExactly(-1, -1, -1, -1);
        assertThat(IpLiteral.parse("0.0.0.0")).containsExactly(0, 0, 0, 0);
    }

    @Test
    void parsesIpv6() {
        byte[] loopback = new byte[16];
        loopback[15] = 1;
        assertThat(IpLiteral.parse("::1")).isEqualTo(loopback);
        assertThat(IpLiteral.parse("fd00:ec2::254")).hasSize(16);
        assertThat(IpLiteral.parse("FD00::")).hasSize(16);
        assertThat(IpLiteral.toAddress("2001:db8::1")).isInstanceOf(Inet6Address.class);
    }

    @ParameterizedTest(name = "\"{0}\" is not a strict numeric address")
    @ValueSource(strings = {
            "010.0.0.1", "1.2.3", "256.0.0.1", "1.2.3.4.5", "127.1", "2130706433", "0x7f000001", "0x7f.0.0.1",
            "1.2.3.4 ", " 1.2.3.4", "+1.2.3.4", "1.2.3.-4", "", "localhost", "api.llm.test",
            "fe80::1%eth0", "fe80::1%25eth0", "[::1]", "::g", "1:2:3:4:5:6:7:8:9", ":::",
    })
    void refusesLooseOrNonNumericForms(String text) {
        assertThat(IpLiteral.parse(text)).isNull();
        assertThat(IpLiteral.toAddress(text)).isNull();
    }
}
