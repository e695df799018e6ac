package dev.enclave.gateway.auth;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Remembers recently verified Basic credentials so API clients do not pay an argon2id hash per
 * request (nginx's auth_basic does, and serves 35 req/s with bcrypt). Keys are HMAC-SHA256 of
 * user and password under a random per-process key, so the cache never holds a password or an
 * offline-attackable hash of one. An entry is valid only while the user's stored hash is the one
 * it was verified against (a password change or deletion invalidates it) and for at most
 * {@code ttl}. Bounded, least recently used first out. Thread-safe.
 */
public final class CredentialCache {
    private record Entry(String storedHash, Instant verifiedAt) {
    }

    private final byte[] key = new byte[32];
    private final Duration ttl;
    private final int maxEntries;
    private final Clock clock;
    private final Map<ByteBuffer, Entry> entries;

    public CredentialCache(Duration ttl, int maxEntries, Clock clock) {
        new SecureRandom().nextBytes(key);
        this.ttl = ttl;
        this.maxEntries = maxEntries;
        this.clock = clock;
        this.entries = new LinkedHashMap<>(64, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<ByteBuffer, Entry> eldest) {
                return size() > CredentialCache.this.maxEntries;
            }
        };
    }

    /** True when these credentials were verified against {@code storedHash} within the ttl. */
    public synchronized boolean isVerified(String user, char[] password, String storedHash) {
        ByteBuffer k = keyFor(user, password);
        Entry e = entries.get(k);
        if (e == null) {
            return false;
        }
        if (!e.storedHash().equals(storedHash) || e.verifiedAt().plus(ttl).isBefore(clock.instant())) {
            entries.remove(k);
            return false;
        }
        return true;
    }

    public synchronized void remember(String user, char[] password, String storedHash) {
        entries.put(keyFor(user, password), new Entry(storedHash, clock.instant()));
    }

    synchronized int size() {
        return entries.size();
    }

    /** The keyed hash that stands for these credentials (also used to spot identical logins in flight). */
    ByteBuffer keyFor(String user, char[] password) {
        ByteBuffer pw = StandardCharsets.UTF_8.encode(CharBuffer.wrap(password));
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(user.getBytes(StandardCharsets.UTF_8));
            mac.update((byte) 0);
            mac.update(pw.duplicate());
            return ByteBuffer.wrap(mac.doFinal());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        } finally {
            if (pw.hasArray()) {
                Arrays.fill(pw.array(), (byte) 0);
            }
        }
    }
}
