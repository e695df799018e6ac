package dev.enclave.egress.relay;

import java.util.function.Supplier;

/**
 * Where each call's API key comes from, asked once per call (from every event loop, so
 * implementations are thread-safe). {@link RelayKeyFile} re-reads a key file when it changes;
 * a key from an environment variable is {@link #fixed}: a process's environment is set when it
 * starts, so rotating such a key takes a restart.
 */
@FunctionalInterface
public interface RelayKeySource {
    /**
     * The key for the call about to go upstream; never logged.
     *
     * @throws RelayKeyException when there is no usable key: one line naming the source and the fix,
     *                           for the call's 503 (never the key)
     */
    String key() throws RelayKeyException;

    /** The same key for every call. */
    static RelayKeySource fixed(RelayKey key) {
        String value = key.value();
        return () -> value;
    }

    /** Asks {@code supplier} for each call; null, empty or not one printable token is no key (503). */
    static RelayKeySource of(Supplier<String> supplier) {
        return () -> {
            String key = supplier.get();
            if (!isToken(key)) {
                // Never says what the key is: only that it is missing or could not go in a header.
                throw new RelayKeyException("the relay has no usable API key (missing, empty, or not one printable token);"
                        + " check its key source");
            }
            return key;
        };
    }

    /** One printable ASCII token: what a header value can carry without being split or rejected. */
    private static boolean isToken(String key) {
        if (key == null || key.isEmpty()) {
            return false;
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                return false;
            }
        }
        return true;
    }
}
