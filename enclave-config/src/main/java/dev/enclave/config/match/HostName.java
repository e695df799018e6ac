package dev.enclave.config.match;

import java.net.IDN;
import java.util.Locale;

/**
 * Normalises a requested host into the one spelling that allow rules are compared with.
 *
 * <p>Order of checks (each one is a named case in {@code HostNameTest}):
 * <ol>
 *   <li>empty, brackets ({@code [::1]}) or a colon (bare IPv6): IP literal or malformed;</li>
 *   <li>characters that have no place in a name: control characters, spaces, {@code @} (userinfo),
 *       {@code %} (escapes and IPv6 zone ids), {@code /}, {@code \}, and every other punctuation but
 *       {@code -} and {@code .};</li>
 *   <li>one trailing dot removed (an absolute name is the same name);</li>
 *   <li>IDN to ASCII (punycode) with the STD3 rules, so {@code аpi} with a Cyrillic а becomes
 *       {@code xn--pi-6kc} and never equals {@code api}; full-width digits and dots fold here too;</li>
 *   <li>lower case, labels of 1 to 63 letters, digits and inner hyphens, at most 253 characters;</li>
 *   <li>a last label that is a number in any base ({@code 1}, {@code 2130706433}, {@code 0x7f},
 *       {@code 0177}) makes the whole string an IPv4 literal, as URL parsers and {@code inet_aton} read
 *       it; no top-level domain is numeric, so no real name is lost.</li>
 * </ol>
 */
public final class HostName {
    private static final int MAX_NAME = 253;
    private static final int MAX_LABEL = 63;

    private HostName() {
    }

    /** Returns the normalised name, or throws saying why {@code raw} is not a DNS name. */
    public static String normalize(String raw) throws HostSyntaxException {
        if (raw == null || raw.isEmpty()) {
            throw malformed("empty host");
        }
        if (raw.charAt(0) == '[') {
            if (raw.endsWith("]") && raw.length() > 2) {
                throw new HostSyntaxException(HostSyntaxException.Kind.IP_LITERAL, "IPv6 literal " + raw);
            }
            throw malformed("unbalanced '[' in host");
        }
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == ':') {
                throw new HostSyntaxException(HostSyntaxException.Kind.IP_LITERAL, "IPv6 literal " + raw);
            }
            if (c <= 0x20 || c == 0x7f) {
                throw malformed("space or control character in host");
            }
            if (c == '@') {
                throw malformed("userinfo ('@') in host");
            }
            if (c == '%') {
                throw malformed("percent-escape in host");
            }
            if (c < 0x80 && !(Character.isLetterOrDigit(c) || c == '-' || c == '.')) {
                throw malformed("character '" + c + "' is not allowed in a host name");
            }
        }
        String name = raw.endsWith(".") ? raw.substring(0, raw.length() - 1) : raw;
        if (name.isEmpty()) {
            throw malformed("empty host");
        }
        String ascii;
        if (name.chars().allMatch(c -> c < 0x80)) {
            // Plain ASCII needs no IDN mapping; checkLabel below says precisely what is wrong.
            ascii = name.toLowerCase(Locale.ROOT);
        } else {
            try {
                ascii = IDN.toASCII(name, IDN.USE_STD3_ASCII_RULES).toLowerCase(Locale.ROOT);
            } catch (IllegalArgumentException e) {
                throw malformed("not a valid internationalised name");
            }
        }
        if (ascii.length() > MAX_NAME) {
            throw malformed("host longer than " + MAX_NAME + " characters");
        }
        String[] labels = ascii.split("\\.", -1);
        for (String label : labels) {
            checkLabel(label);
        }
        if (isNumeric(labels[labels.length - 1])) {
            throw new HostSyntaxException(HostSyntaxException.Kind.IP_LITERAL, "IPv4 literal " + raw);
        }
        return ascii;
    }

    private static void checkLabel(String label) throws HostSyntaxException {
        if (label.isEmpty()) {
            throw malformed("empty label in host");
        }
        if (label.length() > MAX_LABEL) {
            throw malformed("label longer than " + MAX_LABEL + " characters");
        }
        for (int i = 0; i < label.length(); i++) {
            char c = label.charAt(i);
            boolean ldh = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            if (!ldh) {
                throw malformed("character '" + c + "' is not allowed in a host name");
            }
        }
        if (label.charAt(0) == '-' || label.charAt(label.length() - 1) == '-') {
            throw malformed("label starts or ends with '-'");
        }
    }

    /** Decimal, octal (leading 0) or hex (0x) number, as inet_aton and the WHATWG URL parser accept. */
    private static boolean isNumeric(String label) {
        if (label.startsWith("0x")) {
            for (int i = 2; i < label.length(); i++) {
                if (Character.digit(label.charAt(i), 16) < 0) {
                    return false;
                }
            }
            return true;
        }
        for (int i = 0; i < label.length(); i++) {
            if (label.charAt(i) < '0' || label.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    private static HostSyntaxException malformed(String message) {
        return new HostSyntaxException(HostSyntaxException.Kind.MALFORMED, message);
    }
}
