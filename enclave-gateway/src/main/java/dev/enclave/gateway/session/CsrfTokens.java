package dev.enclave.gateway.session;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.regex.Pattern;

/**
 * Login-form CSRF protection bound to the browser: the browser holds a random value in a cookie
 * that only this site can set ({@code __Host-enclave_csrf}), and the form carries the HMAC of that
 * value under a gateway key. Another site can make a browser post the form, but cannot read the
 * cookie or compute the token for it, so it cannot log the browser in (to its own account or any
 * other). Tokens survive a gateway restart because the key does.
 */
public final class CsrfTokens {
    private static final Pattern VALUE = Pattern.compile("[A-Za-z0-9_-]{43}");
    private final SecureRandom random = new SecureRandom();
    private final Hmac key;

    CsrfTokens(Hmac key) {
        this.key = key;
    }

    /** A fresh value for the browser's cookie. */
    public String newBrowserValue() {
        byte[] b = new byte[32];
        random.nextBytes(b);
        return Hmac.B64URL.encodeToString(b);
    }

    /** True when {@code value} has the shape of a cookie value this class makes. */
    public static boolean wellFormed(String value) {
        return value != null && VALUE.matcher(value).matches();
    }

    /** The token the form carries for the browser holding {@code browserValue}. */
    public String tokenFor(String browserValue) {
        if (!wellFormed(browserValue)) {
            throw new IllegalArgumentException("not a CSRF cookie value");
        }
        return key.of(browserValue);
    }

    /** True when {@code token} was made for {@code browserValue}; compared in constant time. */
    public boolean matches(String browserValue, String token) {
        if (!wellFormed(browserValue) || token == null) {
            return false;
        }
        return MessageDigest.isEqual(key.of(browserValue).getBytes(StandardCharsets.US_ASCII),
                token.getBytes(StandardCharsets.UTF_8));
    }
}
