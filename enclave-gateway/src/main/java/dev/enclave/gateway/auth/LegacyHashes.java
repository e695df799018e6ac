package dev.enclave.gateway.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.regex.Pattern;
import org.bouncycastle.crypto.generators.OpenBSDBCrypt;

/**
 * Verification only, for hashes imported from a seed-style htpasswd file: bcrypt ({@code $2y$},
 * {@code $2b$}, {@code $2a$}) and Apache's apr1-MD5 ({@code $apr1$}). Enclave never writes these;
 * a user whose password verifies against one is stored again as argon2id.
 */
final class LegacyHashes {
    private static final Pattern BCRYPT = Pattern.compile("\\$2[aby]\\$(0[4-9]|1[0-4])\\$[./A-Za-z0-9]{53}");
    private static final Pattern APR1 = Pattern.compile("\\$apr1\\$([./A-Za-z0-9]{0,8})\\$[./A-Za-z0-9]{22}");
    private static final String ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private static final String APR1_MAGIC = "$apr1$";

    private LegacyHashes() {
    }

    /** True for a bcrypt (cost 4-14) or apr1 string this class can verify. */
    static boolean isLegacy(String encoded) {
        return BCRYPT.matcher(encoded).matches() || APR1.matcher(encoded).matches();
    }

    static boolean verify(char[] password, String encoded) {
        if (BCRYPT.matcher(encoded).matches()) {
            return OpenBSDBCrypt.checkPassword(encoded, password);
        }
        var m = APR1.matcher(encoded);
        if (m.matches()) {
            byte[] expected = encoded.getBytes(StandardCharsets.US_ASCII);
            byte[] actual = apr1(new String(password).getBytes(StandardCharsets.UTF_8), m.group(1)).getBytes(StandardCharsets.US_ASCII);
            return MessageDigest.isEqual(actual, expected);
        }
        throw new IllegalArgumentException("not a bcrypt or apr1 hash");
    }

    /** Apache's MD5-crypt variant (the algorithm of {@code htpasswd -m} and {@code openssl passwd -apr1}). */
    static String apr1(byte[] pw, String salt) {
        byte[] s = salt.getBytes(StandardCharsets.US_ASCII);
        MessageDigest ctx = md5();
        ctx.update(pw);
        ctx.update(APR1_MAGIC.getBytes(StandardCharsets.US_ASCII));
        ctx.update(s);
        MessageDigest alt = md5();
        alt.update(pw);
        alt.update(s);
        alt.update(pw);
        byte[] fin = alt.digest();
        for (int i = pw.length; i > 0; i -= 16) {
            ctx.update(fin, 0, Math.min(16, i));
        }
        for (int i = pw.length; i != 0; i >>>= 1) {
            if ((i & 1) != 0) {
                ctx.update((byte) 0);
            } else {
                ctx.update(pw.length > 0 ? pw[0] : 0);
            }
        }
        fin = ctx.digest();
        for (int i = 0; i < 1000; i++) {
            MessageDigest round = md5();
            round.update((i & 1) != 0 ? pw : fin);
            if (i % 3 != 0) {
                round.update(s);
            }
            if (i % 7 != 0) {
                round.update(pw);
            }
            round.update((i & 1) != 0 ? fin : pw);
            fin = round.digest();
        }
        StringBuilder out = new StringBuilder(APR1_MAGIC).append(salt).append('$');
        to64(out, (u(fin[0]) << 16) | (u(fin[6]) << 8) | u(fin[12]), 4);
        to64(out, (u(fin[1]) << 16) | (u(fin[7]) << 8) | u(fin[13]), 4);
        to64(out, (u(fin[2]) << 16) | (u(fin[8]) << 8) | u(fin[14]), 4);
        to64(out, (u(fin[3]) << 16) | (u(fin[9]) << 8) | u(fin[15]), 4);
        to64(out, (u(fin[4]) << 16) | (u(fin[10]) << 8) | u(fin[5]), 4);
        to64(out, u(fin[11]), 2);
        return out.toString();
    }

    private static void to64(StringBuilder out, int v, int n) {
        for (int i = 0; i < n; i++) {
            out.append(ITOA64.charAt(v & 0x3f));
            v >>>= 6;
        }
    }

    private static int u(byte b) {
        return b & 0xff;
    }

    private static MessageDigest md5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is missing from this JDK", e);
        }
    }
}
