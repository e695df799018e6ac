package dev.enclave.config.match;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * Strict parsing of numeric addresses written by an operator (config, flags): dotted-quad IPv4
 * with no octal, hex or short forms, and IPv6 without a zone id. Never does a DNS lookup.
 */
public final class IpLiteral {
    private static final String OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    private static final String DOTTED_QUAD = OCTET + "(\\." + OCTET + "){3}";

    private IpLiteral() {
    }

    /** The address bytes (4 or 16), or null when {@code text} is not a strict numeric address. */
    public static byte[] parse(String text) {
        if (text.matches(DOTTED_QUAD)) {
            String[] parts = text.split("\\.");
            byte[] out = new byte[4];
            for (int i = 0; i < 4; i++) {
                out[i] = (byte) Integer.parseInt(parts[i]);
            }
            return out;
        }
        if (text.contains(":") && text.matches("[0-9a-fA-F:.]+")) {
            try {
                // Only hex digits, colons and dots reach here, so this is a literal parse, not a lookup.
                byte[] out = InetAddress.getByName("[" + text + "]").getAddress();
                return out.length == 16 ? out : null;
            } catch (UnknownHostException e) {
                return null;
            }
        }
        return null;
    }

    /** Like {@link #parse} but returns an {@link InetAddress}, or null. */
    public static InetAddress toAddress(String text) {
        byte[] bytes = parse(text);
        if (bytes == null) {
            return null;
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
