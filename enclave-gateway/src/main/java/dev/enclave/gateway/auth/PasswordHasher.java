package dev.enclave.gateway.auth;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bouncycastle.crypto.generators.Argon2BytesGenerator;
import org.bouncycastle.crypto.params.Argon2Parameters;

/**
 * Argon2id password hashes in the PHC string format that the reference {@code argon2} tool and
 * libraries write: {@code $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>} (standard Base64, no padding).
 *
 * <p>Defaults are OWASP's first recommended argon2id configuration (19 MiB, 2 passes, 1 lane).
 * Stored parameters are read back from each string, so raising the defaults later does not lock
 * anyone out; {@link #needsRehash} says when a verified password should be stored again. Hashes
 * imported from htpasswd (bcrypt, apr1) are verified too, and always need a rehash. Parameters
 * in a string are bounded, so a tampered users file cannot make one verification take gigabytes.
 */
public final class PasswordHasher {
    /** Argon2id cost parameters. */
    public record Params(int memoryKiB, int iterations, int parallelism) {
        public static final Params OWASP = new Params(19 * 1024, 2, 1);

        public Params {
            if (memoryKiB < 8 * parallelism || memoryKiB > MAX_MEMORY_KIB || iterations < 1 || iterations > MAX_ITERATIONS
                    || parallelism < 1 || parallelism > MAX_PARALLELISM) {
                throw new IllegalArgumentException("argon2id parameters m=" + memoryKiB + ",t=" + iterations + ",p="
                        + parallelism + " (expected: m 8*p.." + MAX_MEMORY_KIB + " KiB, t 1.." + MAX_ITERATIONS
                        + ", p 1.." + MAX_PARALLELISM + ")");
            }
        }
    }

    static final int MAX_MEMORY_KIB = 1024 * 1024;
    static final int MAX_ITERATIONS = 16;
    static final int MAX_PARALLELISM = 16;
    private static final int SALT_BYTES = 16;
    private static final int HASH_BYTES = 32;
    private static final Pattern PHC = Pattern.compile(
            "\\$argon2id\\$v=19\\$m=([0-9]{1,8}),t=([0-9]{1,3}),p=([0-9]{1,3})\\$([A-Za-z0-9+/]{11,88})\\$([A-Za-z0-9+/]{22,88})");
    private static final Base64.Encoder B64 = Base64.getEncoder().withoutPadding();

    private final Params params;
    private final SecureRandom random = new SecureRandom();

    public PasswordHasher(Params params) {
        this.params = params;
    }

    public PasswordHasher() {
        this(Params.OWASP);
    }

    /** A new hash of {@code password} with a fresh random salt. */
    public String hash(char[] password) {
        byte[] salt = new byte[SALT_BYTES];
        random.nextBytes(salt);
        byte[] tag = argon2id(password, salt, params, HASH_BYTES);
        return "$argon2id$v=19$m=" + params.memoryKiB() + ",t=" + params.iterations() + ",p=" + params.parallelism()
                + "$" + B64.encodeToString(salt) + "$" + B64.encodeToString(tag);
    }

    /**
     * True when {@code password} matches {@code encoded}. Compares in constant time.
     *
     * @throws IllegalArgumentException when {@code encoded} is not an argon2id PHC string within bounds
     */
    public boolean verify(char[] password, String encoded) {
        if (LegacyHashes.isLegacy(encoded)) {
            return LegacyHashes.verify(password, encoded);
        }
        Parsed p = parse(encoded);
        byte[] actual = argon2id(password, p.salt, p.params, p.hash.length);
        return MessageDigest.isEqual(actual, p.hash);
    }

    /** True when {@code encoded} is an imported bcrypt/apr1 hash or uses weaker parameters than this hasher's. */
    public boolean needsRehash(String encoded) {
        if (LegacyHashes.isLegacy(encoded)) {
            return true;
        }
        Params stored = parse(encoded).params;
        return stored.memoryKiB() < params.memoryKiB() || stored.iterations() < params.iterations();
    }

    /**
     * Throws {@link IllegalArgumentException} unless {@code encoded} is a usable argon2id string, or
     * (when {@code allowLegacy}) an imported bcrypt or apr1 hash awaiting its rehash.
     */
    public static void check(String encoded, boolean allowLegacy) {
        if (allowLegacy && LegacyHashes.isLegacy(encoded)) {
            return;
        }
        parse(encoded);
    }

    private record Parsed(Params params, byte[] salt, byte[] hash) {
    }

    private static Parsed parse(String encoded) {
        Matcher m = PHC.matcher(encoded);
        if (!m.matches()) {
            throw new IllegalArgumentException("not an argon2id hash ($argon2id$v=19$m=..,t=..,p=..$salt$hash)");
        }
        Params params = new Params(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
        byte[] salt = Base64.getDecoder().decode(m.group(4));
        byte[] hash = Base64.getDecoder().decode(m.group(5));
        if (salt.length < 8 || hash.length < 16 || hash.length > 64) {
            throw new IllegalArgumentException("argon2id salt or hash length out of range");
        }
        return new Parsed(params, salt, hash);
    }

    /**
     * Argon2's 1 KiB memory blocks, kept for the next hash instead of dropped (BouncyCastle clears
     * each block before it returns here). Allocating 19 MiB of blocks per hash that live for the
     * whole hash made a wrong-password flood a garbage-collector flood: 100 wrong passwords/s for
     * 12 s (h2load, 2 cores, launcher defaults) caused 87 young and 38 full collections, 6.7 s of
     * pauses during which every connection waited; with reuse 17 and 2, 0.26 s (bench/RESULTS.md).
     * Retains at most two OWASP-sized hashes' worth (38 MiB); more at once allocate as before.
     */
    private static final Argon2BytesGenerator.BlockPool BLOCKS = new Argon2BytesGenerator.FixedBlockPool(
            2 * Argon2BytesGenerator.getBlockCount(Params.OWASP.memoryKiB(), Params.OWASP.parallelism()));

    private static byte[] argon2id(char[] password, byte[] salt, Params p, int length) {
        ByteBuffer encoded = StandardCharsets.UTF_8.encode(CharBuffer.wrap(password));
        byte[] pw = new byte[encoded.remaining()];
        encoded.get(pw);
        try {
            Argon2BytesGenerator gen = new Argon2BytesGenerator();
            gen.init(new Argon2Parameters.Builder(Argon2Parameters.ARGON2_id)
                    .withVersion(Argon2Parameters.ARGON2_VERSION_13)
                    .withMemoryAsKB(p.memoryKiB())
                    .withIterations(p.iterations())
                    .withParallelism(p.parallelism())
                    .withSalt(salt)
                    .withBlockPool(BLOCKS)
                    .build());
            byte[] out = new byte[length];
            gen.generateBytes(pw, out);
            return out;
        } finally {
            Arrays.fill(pw, (byte) 0);
            if (encoded.hasArray()) {
                Arrays.fill(encoded.array(), (byte) 0);
            }
        }
    }
}
