package dev.enclave.config.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AddressClassifierTest {

    @ParameterizedTest(name = "{0} is {1}")
    @CsvSource({
            // this network 0.0.0.0/8
            "0.0.0.0, UNSPECIFIED",
            "0.255.255.255, UNSPECIFIED",
            "1.0.0.0, PUBLIC",
            // loopback 127.0.0.0/8
            "126.255.255.255, PUBLIC",
            "127.0.0.1, LOOPBACK",
            "127.255.255.255, LOOPBACK",
            "128.0.0.0, PUBLIC",
            // RFC 1918 10.0.0.0/8
            "9.255.255.255, PUBLIC",
            "10.0.0.0, PRIVATE",
            "10.255.255.255, PRIVATE",
            "11.0.0.0, PUBLIC",
            // RFC 1918 172.16.0.0/12
            "172.15.255.255, PUBLIC",
            "172.16.0.0, PRIVATE",
            "172.31.255.255, PRIVATE",
            "172.32.0.0, PUBLIC",
            // RFC 1918 192.168.0.0/16
            "192.167.255.255, PUBLIC",
            "192.168.0.0, PRIVATE",
            "192.168.255.255, PRIVATE",
            "192.169.0.0, PUBLIC",
            // CGNAT 100.64.0.0/10
            "100.63.255.255, PUBLIC",
            "100.64.0.0, CGNAT",
            "100.127.255.255, CGNAT",
            "100.128.0.0, PUBLIC",
            // link-local 169.254.0.0/16 and the metadata service inside it
            "169.253.255.255, PUBLIC",
            "169.254.0.1, LINK_LOCAL",
            "169.254.169.123, LINK_LOCAL",
            "169.254.169.254, METADATA",
            "169.254.255.255, LINK_LOCAL",
            "169.255.0.0, PUBLIC",
            // IETF protocol assignments 192.0.0.0/24
            "192.0.0.0, RESERVED",
            "192.0.0.255, RESERVED",
            "192.0.1.0, PUBLIC",
            // TEST-NET-1, -2, -3
            "192.0.2.1, DOCUMENTATION",
            "192.0.3.0, PUBLIC",
            "198.51.100.1, DOCUMENTATION",
            "198.51.101.0, PUBLIC",
            "203.0.113.7, DOCUMENTATION",
            "203.0.114.0, PUBLIC",
            // benchmarking 198.18.0.0/15
            "198.17.255.255, PUBLIC",
            "198.18.0.0, BENCHMARK",
            "198.19.255.255, BENCHMARK",
            "198.20.0.0, PUBLIC",
            // deprecated 6to4 relay anycast 192.88.99.0/24
            "192.88.99.1, RESERVED",
            // multicast 224.0.0.0/4
            "223.255.255.255, PUBLIC",
            "224.0.0.1, MULTICAST",
            "239.255.255.255, MULTICAST",
            // reserved 240.0.0.0/4 and limited broadcast
            "240.0.0.0, RESERVED",
            "255.255.255.255, RESERVED",
            // ordinary public
            "8.8.8.8, PUBLIC",
            "1.1.1.1, PUBLIC",
    })
    void classifiesIpv4(String address, AddressClass expected) {
        assertThat(AddressClassifier.classify(v4(address))).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0} is {1}")
    @CsvSource({
            // unspecified and loopback
            "::, UNSPECIFIED",
            "::1, LOOPBACK",
            "::2, RESERVED",
            // IPv4-compatible (deprecated), never trusted
            "::10.0.0.1, RESERVED",
            "::8.8.8.8, RESERVED",
            // IPv4-mapped ::ffff:0:0/96 is classified by the IPv4 address it carries
            "::ffff:10.0.0.1, PRIVATE",
            "::ffff:127.0.0.1, LOOPBACK",
            "::ffff:169.254.169.254, METADATA",
            "::ffff:8.8.8.8, PUBLIC",
            // NAT64 well-known prefix 64:ff9b::/96
            "64:ff9b::7f00:1, LOOPBACK",
            "64:ff9b::a9fe:a9fe, METADATA",
            "64:ff9b::808:808, PUBLIC",
            "64:ff9b:0:0:1::808:808, RESERVED",
            // local-use NAT64 64:ff9b:1::/48
            "64:ff9b:1::1, PRIVATE",
            "64:ff9b:1:ffff::808:808, PRIVATE",
            // 6to4 2002::/16 carries an IPv4 address in bits 16-47
            "2002:7f00:0001::, LOOPBACK",
            "2002:0a00:0001::1, PRIVATE",
            "2002:0808:0808::, PUBLIC",
            // Teredo 2001::/32
            "2001::1, RESERVED",
            "2001:0:ffff:ffff::, RESERVED",
            "2001:1::1, PUBLIC",
            // documentation 2001:db8::/32 and 3fff::/20
            "2001:db8::1, DOCUMENTATION",
            "2001:db9::1, PUBLIC",
            "3fff::1, DOCUMENTATION",
            "3fff:fff:ffff::1, DOCUMENTATION",
            "3fff:1000::1, PUBLIC",
            "3ffe:ffff::1, PUBLIC",
            // benchmarking 2001:2::/48
            "2001:2::1, BENCHMARK",
            "2001:2:1::1, PUBLIC",
            // ORCHID 2001:10::/28 and ORCHIDv2 2001:20::/28
            "2001:10::1, RESERVED",
            "2001:20::1, RESERVED",
            "2001:30::1, PUBLIC",
            // unique local fc00::/7, with the AWS metadata address inside it
            "fc00::1, PRIVATE",
            "fd00::1, PRIVATE",
            "fdff:ffff::1, PRIVATE",
            "fd00:ec2::254, METADATA",
            "fd00:ec2::253, PRIVATE",
            // link-local fe80::/10 and deprecated site-local fec0::/10
            "fe80::1, LINK_LOCAL",
            "febf:ffff::1, LINK_LOCAL",
            "fec0::1, PRIVATE",
            // multicast ff00::/8
            "ff02::1, MULTICAST",
            "ff0e::1, MULTICAST",
            // discard-only 100::/64 and everything outside global unicast 2000::/3
            "100::1, RESERVED",
            "1fff:ffff::1, RESERVED",
            "4000::1, RESERVED",
            "e000::1, RESERVED",
            // global unicast
            "2000::1, PUBLIC",
            "2606:4700::1, PUBLIC",
            "3ffe::1, PUBLIC",
    })
    void classifiesIpv6IncludingEmbeddedIpv4(String address, AddressClass expected) {
        assertThat(AddressClassifier.classify(v6(address))).isEqualTo(expected);
    }

    @Test
    void classifiesInetAddressOfEitherFamily() throws UnknownHostException {
        assertThat(AddressClassifier.classify(InetAddress.getByAddress(v4("169.254.169.254")))).isEqualTo(AddressClass.METADATA);
        assertThat(AddressClassifier.classify(InetAddress.getByAddress(v6("fd00:ec2::254")))).isEqualTo(AddressClass.METADATA);
        // Inet6Address.getByAddress keeps an IPv4-mapped address as 16 bytes instead of turning it into Inet4Address.
        InetAddress mapped = Inet6Address.getByAddress(null, v6("::ffff:127.0.0.1"), -1);
        assertThat(mapped.getAddress()).hasSize(16);
        assertThat(AddressClassifier.classify(mapped)).isEqualTo(AddressClass.LOOPBACK);
    }

    @Test
    void refusesAddressesOfOtherLengths() {
        assertThatThrownBy(() -> AddressClassifier.classify(new byte[5]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected: 4 or 16");
    }

    @Test
    void everyClassHasAStableSnakeCaseCodeAndADescription() {
        assertThat(Arrays.stream(AddressClass.values()).map(AddressClass::code).collect(Collectors.toList()))
                .containsExactly("public", "unspecified", "loopback", "private", "cgnat", "link_local", "metadata",
                        "multicast", "documentation", "benchmark", "reserved");
        assertThat(AddressClass.values()).allSatisfy(c -> assertThat(c.description()).isNotBlank());
    }

    private static byte[] v4(String text) {
        byte[] bytes = IpLiteral.parse(text);
        assertThat(bytes).as(text).hasSize(4);
        return bytes;
    }

    /** Parses IPv6 text to 16 bytes, also for ::ffff:a.b.c.d, which InetAddress would turn into 4 bytes. */
    private static byte[] v6(String text) {
        if (text.startsWith("::ffff:") && text.contains(".")) {
            byte[] out = new byte[16];
            out[10] = (byte) 0xff;
            out[11] = (byte) 0xff;
            System.arraycopy(v4(text.substring("::ffff:".length())), 0, out, 12, 4);
            return out;
        }
        byte[] bytes = IpLiteral.parse(text);
        assertThat(bytes).as(text).hasSize(16);
        return bytes;
    }
}
