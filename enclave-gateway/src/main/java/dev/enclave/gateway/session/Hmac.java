package dev.enclave.gateway.session;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** HMAC-SHA256 under one key. Thread-safe: each thread keeps its own {@link Mac}, so no lookup per call. */
final class Hmac {
    static final Base64.Encoder B64URL = Base64.getUrlEncoder().withoutPadding();
    private final ThreadLocal<Mac> macs;

    Hmac(byte[] key) {
        SecretKeySpec spec = new SecretKeySpec(key.clone(), "HmacSHA256");
        this.macs = ThreadLocal.withInitial(() -> {
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(spec);
                return mac;
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
            }
        });
    }

    byte[] of(byte[] data) {
        return macs.get().doFinal(data);
    }

    /** The HMAC of {@code text} (UTF-8), base64url without padding: 43 characters. */
    String of(String text) {
        return B64URL.encodeToString(of(text.getBytes(StandardCharsets.UTF_8)));
    }
}
