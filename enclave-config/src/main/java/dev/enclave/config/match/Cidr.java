package dev.enclave.config.match;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;

/** An IPv4 or IPv6 prefix such as {@code 10.0.0.0/8}; host bits must be zero. */
public record Cidr(byte[] network, int prefix) {

    public Cidr {
        network = network.clone();
    }

    /** Parses {@code a.b.c.d/n} or {@code x::y/n}; only numeric addresses, dotted-quad IPv4. */
    public static Cidr parse(String text) throws IllegalArgumentException {
        int slash = text.indexOf('/');
        byte[] address = IpLiteral.parse(slash < 0 ? text : text.substring(0, slash));
        if (address == null) {
            throw new IllegalArgumentException("\"" + text + "\" is not an IP prefix; write e.g. \"10.0.0.0/8\" or \"fd00::/8\"");
        }
        int maxBits = address.length * 8;
        if (slash < 0) {
            throw new IllegalArgumentException("\"" + text + "\" has no prefix length; write e.g. \"" + text + "/" + maxBits + "\"");
        }
        int prefix;
        String bits = text.substring(slash + 1);
        if (!bits.matches("0|[1-9][0-9]{0,2}")) {
            throw new IllegalArgumentException("\"" + text + "\": bad prefix length '" + bits + "'; write a number from 0 to " + maxBits);
        }
        prefix = Integer.parseInt(bits);
        if (prefix > maxBits) {
            throw new IllegalArgumentException("\"" + text + "\": prefix length " + prefix + " exceeds " + maxBits
                    + "; write a number from 0 to " + maxBits);
        }
        Cidr cidr = new Cidr(address, prefix);
        if (!cidr.contains(address) || !Arrays.equals(cidr.mask(address), address)) {
            throw new IllegalArgumentException("\"" + text + "\" has host bits set; write \""
                    + format(cidr.mask(address)) + "/" + prefix + "\"");
        }
        return cidr;
    }

    public boolean contains(InetAddress address) {
        return contains(address.getAddress());
    }

    public boolean contains(byte[] address) {
        if (address.length != network.length) {
            return false;
        }
        return Arrays.equals(mask(address), network);
    }

    private byte[] mask(byte[] address) {
        byte[] out = address.clone();
        for (int bit = prefix; bit < out.length * 8; bit++) {
            out[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
        }
        return out;
    }

    private static String format(byte[] address) {
        try {
            return InetAddress.getByAddress(address).getHostAddress();
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(network) + prefix;
    }

    @Override
    public String toString() {
        return format(network) + "/" + prefix;
    }
}
