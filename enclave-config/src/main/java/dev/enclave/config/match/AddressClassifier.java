package dev.enclave.config.match;

import java.net.InetAddress;

/**
 * Maps a resolved address to its {@link AddressClass}. Pure: no lookups, no configuration.
 *
 * <p>IPv6 forms that carry an IPv4 address are classified by the IPv4 address they carry, so a
 * private or loopback address cannot be reached through its IPv6 spelling: IPv4-mapped
 * ({@code ::ffff:0:0/96}), NAT64 well-known prefix ({@code 64:ff9b::/96}) and 6to4
 * ({@code 2002::/16}). Forms whose embedded address cannot be trusted are refused outright:
 * IPv4-compatible ({@code ::/96}, deprecated), local-use NAT64 ({@code 64:ff9b:1::/48}, a local
 * translator) and Teredo ({@code 2001::/32}).
 */
public final class AddressClassifier {
    private AddressClassifier() {
    }

    public static AddressClass classify(InetAddress address) {
        return classify(address.getAddress());
    }

    public static AddressClass classify(byte[] a) {
        if (a.length == 4) {
            return classifyV4(u(a[0]), u(a[1]), u(a[2]), u(a[3]));
        }
        if (a.length != 16) {
            throw new IllegalArgumentException("address length: " + a.length + " (expected: 4 or 16)");
        }
        return classifyV6(a);
    }

    private static AddressClass classifyV4(int a, int b, int c, int d) {
        if (a == 0) {
            return AddressClass.UNSPECIFIED;
        }
        if (a == 127) {
            return AddressClass.LOOPBACK;
        }
        if (a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168)) {
            return AddressClass.PRIVATE;
        }
        if (a == 100 && (b & 0xc0) == 64) {
            return AddressClass.CGNAT;
        }
        if (a == 169 && b == 254) {
            return (c == 169 && d == 254) ? AddressClass.METADATA : AddressClass.LINK_LOCAL;
        }
        if (a == 192 && b == 0 && c == 0) {
            return AddressClass.RESERVED;
        }
        if ((a == 192 && b == 0 && c == 2) || (a == 198 && b == 51 && c == 100) || (a == 203 && b == 0 && c == 113)) {
            return AddressClass.DOCUMENTATION;
        }
        if (a == 198 && (b & 0xfe) == 18) {
            return AddressClass.BENCHMARK;
        }
        if (a == 192 && b == 88 && c == 99) {
            return AddressClass.RESERVED; // deprecated 6to4 relay anycast
        }
        if ((a & 0xf0) == 224) {
            return AddressClass.MULTICAST;
        }
        if ((a & 0xf0) == 240) {
            return AddressClass.RESERVED; // includes 255.255.255.255
        }
        return AddressClass.PUBLIC;
    }

    private static AddressClass classifyV6(byte[] a) {
        if (allZero(a, 0, 10) && u(a[10]) == 0xff && u(a[11]) == 0xff) {
            return embedded(a, 12); // ::ffff:a.b.c.d
        }
        if (allZero(a, 0, 12)) {
            if (allZero(a, 12, 15) && u(a[15]) == 0) {
                return AddressClass.UNSPECIFIED;
            }
            if (allZero(a, 12, 15) && u(a[15]) == 1) {
                return AddressClass.LOOPBACK;
            }
            return AddressClass.RESERVED; // ::a.b.c.d, IPv4-compatible, deprecated
        }
        int w0 = word(a, 0);
        int w1 = word(a, 1);
        int w2 = word(a, 2);
        if (w0 == 0x0064 && w1 == 0xff9b && allZero(a, 4, 12)) {
            return embedded(a, 12); // NAT64 well-known prefix
        }
        if (w0 == 0x0064 && w1 == 0xff9b && w2 == 0x0001) {
            return AddressClass.PRIVATE; // local-use NAT64, RFC 8215
        }
        if (w0 == 0x2002) {
            return embedded(a, 2); // 6to4
        }
        if (w0 == 0x2001 && w1 == 0x0000) {
            return AddressClass.RESERVED; // Teredo
        }
        if (w0 == 0x2001 && w1 == 0x0db8) {
            return AddressClass.DOCUMENTATION;
        }
        if (w0 == 0x3fff && (w1 & 0xf000) == 0) {
            return AddressClass.DOCUMENTATION; // 3fff::/20, RFC 9637
        }
        if (w0 == 0x2001 && w1 == 0x0002 && w2 == 0x0000) {
            return AddressClass.BENCHMARK;
        }
        if (w0 == 0x2001 && (w1 & 0xfff0) == 0x0010 || w0 == 0x2001 && (w1 & 0xfff0) == 0x0020) {
            return AddressClass.RESERVED; // ORCHID v1/v2
        }
        if (w0 == 0x0100 && allZero(a, 2, 8)) {
            return AddressClass.RESERVED; // discard-only 100::/64
        }
        if (w0 == 0xfd00 && w1 == 0x0ec2 && allZero(a, 4, 14) && word(a, 7) == 0x0254) {
            return AddressClass.METADATA; // fd00:ec2::254
        }
        if ((w0 & 0xfe00) == 0xfc00) {
            return AddressClass.PRIVATE; // unique local
        }
        if ((w0 & 0xffc0) == 0xfe80) {
            return AddressClass.LINK_LOCAL;
        }
        if ((w0 & 0xffc0) == 0xfec0) {
            return AddressClass.PRIVATE; // site-local, deprecated
        }
        if ((w0 & 0xff00) == 0xff00) {
            return AddressClass.MULTICAST;
        }
        if ((w0 & 0xe000) != 0x2000) {
            return AddressClass.RESERVED; // outside global unicast 2000::/3
        }
        return AddressClass.PUBLIC;
    }

    private static AddressClass embedded(byte[] a, int offset) {
        return classifyV4(u(a[offset]), u(a[offset + 1]), u(a[offset + 2]), u(a[offset + 3]));
    }

    private static boolean allZero(byte[] a, int from, int to) {
        for (int i = from; i < to; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static int word(byte[] a, int index) {
        return (u(a[2 * index]) << 8) | u(a[2 * index + 1]);
    }

    private static int u(byte b) {
        return b & 0xff;
    }
}
