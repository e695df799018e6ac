package dev.enclave.config.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CidrTest {

    @ParameterizedTest(name = "{0} {2} {1}")
    @CsvSource({
            "10.0.0.0/8, 10.0.0.0, contains",
            "10.0.0.0/8, 10.255.255.255, contains",
            "10.0.0.0/8, 11.0.0.0, does not contain",
            "10.0.0.0/8, 9.255.255.255, does not contain",
            "172.16.0.0/12, 172.31.255.255, contains",
            "172.16.0.0/12, 172.32.0.0, does not contain",
            "203.0.113.7/32, 203.0.113.7, contains",
            "203.0.113.7/32, 203.0.113.8, does not contain",
            "0.0.0.0/0, 255.255.255.255, contains",
            "fd00::/8, fd12:3456::1, contains",
            "fd00::/8, fe00::1, does not contain",
            "2001:db8::/32, 2001:db8:ffff:ffff:ffff:ffff:ffff:ffff, contains",
            "2001:db8::/32, 2001:db9::, does not contain",
            "::/0, ::1, contains",
            "::1/128, ::1, contains",
            "::1/128, ::2, does not contain",
            "10.0.0.0/8, ::ffff:10.0.0.1, does not contain",
            "::/0, 10.0.0.1, does not contain",
    })
    void containsChecksPrefixBitsAndFamily(String cidr, String address, String verdict) {
        byte[] bytes = address.startsWith("::ffff:") ? mapped(address) : IpLiteral.parse(address);
        assertThat(Cidr.parse(cidr).contains(bytes)).isEqualTo(verdict.equals("contains"));
    }

    @Test
    void containsAcceptsInetAddress() {
        assertThat(Cidr.parse("10.0.0.0/8").contains(IpLiteral.toAddress("10.1.2.3"))).isTrue();
        assertThat(Cidr.parse("10.0.0.0/8").contains(IpLiteral.toAddress("11.1.2.3"))).isFalse();
    }

    @Test
    void formatsAndComparesByValue() {
        assertThat(Cidr.parse("10.0.0.0/8")).hasToString("10.0.0.0/8")
                .isEqualTo(Cidr.parse("10.0.0.0/8"))
                .hasSameHashCodeAs(Cidr.parse("10.0.0.0/8"))
                .isNotEqualTo(Cidr.parse("10.0.0.0/9"));
        assertThat(Cidr.parse("fd00::/8").prefix()).isEqualTo(8);
    }

    @ParameterizedTest(name = "\"{0}\" is refused: {1}")
    @CsvSource(delimiter = '|', value = {
            "10.0.0.1/8       | \"10.0.0.1/8\" has host bits set; write \"10.0.0.0/8\"",
            "192.168.1.77/16  | has host bits set; write \"192.168.0.0/16\"",
            "fd00::1/8        | has host bits set; write \"fd00:0:0:0:0:0:0:0/8\"",
            "10.0.0.0/33      | \"10.0.0.0/33\": prefix length 33 exceeds 32; write a number from 0 to 32",
            "fd00::/129       | prefix length 129 exceeds 128; write a number from 0 to 128",
            "10.0.0.0/08      | bad prefix length '08'; write a number from 0 to 32",
            "10.0.0.0/        | bad prefix length ''",
            "10.0.0.0/-1      | bad prefix length '-1'",
            "10.0.0.0/8/8     | bad prefix length '8/8'",
            "10.0.0.1         | \"10.0.0.1\" has no prefix length; write e.g. \"10.0.0.1/32\"",
            "fd00::1          | \"fd00::1\" has no prefix length; write e.g. \"fd00::1/128\"",
            "10.0.0/8         | is not an IP prefix; write e.g. \"10.0.0.0/8\" or \"fd00::/8\"",
            "010.0.0.0/8      | is not an IP prefix",
            "example.com/24   | is not an IP prefix",
            "example.com      | is not an IP prefix",
            "''               | is not an IP prefix",
    })
    void badPrefixesAreRefusedWithTheCorrectForm(String text, String message) {
        assertThatThrownBy(() -> Cidr.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    private static byte[] mapped(String text) {
        byte[] v4 = IpLiteral.parse(text.substring("::ffff:".length()));
        byte[] out = new byte[16];
        out[10] = (byte) 0xff;
        out[11] = (byte) 0xff;
        System.arraycopy(v4, 0, out, 12, 4);
        return out;
    }
}
