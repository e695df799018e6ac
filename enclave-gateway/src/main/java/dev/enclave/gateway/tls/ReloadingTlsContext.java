package dev.enclave.gateway.tls;

import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.time.Instant;
import java.util.Collection;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * The gateway's TLS context, replaced without a restart when the certificate or key file is
 * replaced. Each new connection's TLS handler is made from {@link #get()}, so new handshakes use the
 * newest good pair while established connections keep the one they started with.
 *
 * <p>A new pair is used only if it is complete and sound: the certificate file holds a PEM chain,
 * the key file an unencrypted PEM private key, the key belongs to the first certificate (a test
 * signature made with the key verifies with the certificate), and that certificate is valid now.
 * Otherwise the previous pair keeps serving and {@link #reload()} says why, naming the file and
 * the fix; the gateway never falls back to anything less than TLS with the old certificate.
 *
 * <p>{@link #reloadIfChanged()} is meant to be polled: it reloads once the files' contents differ
 * from what was last tried and have stayed the same since the previous look, so a certificate and
 * key copied one after the other are taken together rather than reported as a mismatch in between.
 */
public final class ReloadingTlsContext implements Supplier<SslContext> {
    private final Path certFile;
    private final Path keyFile;
    private final AtomicReference<Loaded> current = new AtomicReference<>();
    private FilesSeen lastTried;
    private FilesSeen lastLook;

    /** A loaded, checked pair. */
    public record Loaded(SslContext context, X509Certificate certificate, String fingerprint) {
    }

    /**
     * What a reload did: {@code loaded} is the pair now serving; {@code problem} is null when the
     * new pair was taken, else one line naming the file at fault and the fix.
     */
    public record Outcome(Loaded loaded, String problem) {
        public boolean refused() {
            return problem != null;
        }
    }

    private ReloadingTlsContext(Path certFile, Path keyFile) {
        this.certFile = certFile;
        this.keyFile = keyFile;
    }

    /**
     * Loads the pair the gateway starts with. Unlike a reload, an expired certificate is served (a
     * browser warning beats no service when there is nothing older to keep); everything else must
     * hold.
     */
    public static ReloadingTlsContext open(Path certFile, Path keyFile) throws IOException {
        ReloadingTlsContext tls = new ReloadingTlsContext(certFile, keyFile);
        FilesSeen seen = FilesSeen.of(certFile, keyFile);
        tls.current.set(load(certFile, keyFile, null));
        tls.lastTried = seen;
        tls.lastLook = seen;
        return tls;
    }

    @Override
    public SslContext get() {
        return current.get().context();
    }

    public Loaded current() {
        return current.get();
    }

    public Path certFile() {
        return certFile;
    }

    public Path keyFile() {
        return keyFile;
    }

    /** Reads both files again now (SIGHUP) and serves them if they pass every check. */
    public synchronized Outcome reload() {
        FilesSeen seen = FilesSeen.of(certFile, keyFile);
        lastLook = seen;
        lastTried = seen; // so a refused pair is reported once, not at every look
        try {
            Loaded fresh = load(certFile, keyFile, Instant.now());
            current.set(fresh);
            return new Outcome(fresh, null);
        } catch (IOException e) {
            return new Outcome(current.get(), e.getMessage());
        }
    }

    /** Reloads if the files changed and have since stayed put; null when there was nothing to do. */
    public synchronized Outcome reloadIfChanged() {
        FilesSeen now = FilesSeen.of(certFile, keyFile);
        boolean settled = now.equals(lastLook);
        lastLook = now;
        if (now.equals(lastTried) || !settled || !now.bothPresent()) {
            return null;
        }
        return reload();
    }

    /**
     * Loads and checks a pair; with {@code now}, the leaf certificate must also be valid at that
     * instant. The exception message is one line: the file, what is wrong, how to fix it.
     */
    static Loaded load(Path certFile, Path keyFile, Instant now) throws IOException {
        X509Certificate leaf = leafOf(certFile);
        PrivateKey key = keyOf(keyFile);
        if (!belongTogether(key, leaf.getPublicKey(), keyFile, certFile)) {
            throw new IOException(keyFile + " is not the key of the certificate in " + certFile
                    + "; install the key and certificate that were issued together");
        }
        if (now != null && now.isAfter(leaf.getNotAfter().toInstant())) {
            throw new IOException(certFile + ": the certificate expired on " + leaf.getNotAfter().toInstant()
                    + "; install a renewed certificate");
        }
        if (now != null && now.isBefore(leaf.getNotBefore().toInstant())) {
            throw new IOException(certFile + ": the certificate is not valid before " + leaf.getNotBefore().toInstant()
                    + "; check the system clock or install a certificate that is valid now");
        }
        return new Loaded(TlsContexts.server(certFile, keyFile), leaf, SelfSignedCertificate.fingerprint(leaf));
    }

    private static X509Certificate leafOf(Path certFile) throws IOException {
        Collection<? extends Certificate> chain;
        try (var in = Files.newInputStream(certFile)) {
            chain = CertificateFactory.getInstance("X.509").generateCertificates(in);
        } catch (java.security.cert.CertificateException e) {
            throw new IOException(certFile + ": not a PEM certificate chain (" + e.getMessage()
                    + "); put the server certificate, then any intermediates, in PEM form there", e);
        } catch (IOException e) {
            throw new IOException(certFile + ": cannot read (" + e.getMessage() + "); check the path and its permissions", e);
        }
        if (chain.isEmpty() || !(chain.iterator().next() instanceof X509Certificate leaf)) {
            throw new IOException(certFile + ": no certificate in it; put the server certificate, then any intermediates, in PEM form there");
        }
        return leaf;
    }

    private static PrivateKey keyOf(Path keyFile) throws IOException {
        Object parsed;
        try (Reader r = Files.newBufferedReader(keyFile, StandardCharsets.US_ASCII); PEMParser pem = new PEMParser(r)) {
            do { // skips what may come before the key, e.g. the EC PARAMETERS block of 'openssl ecparam -genkey'
                parsed = pem.readObject();
            } while (parsed != null && !(parsed instanceof PrivateKeyInfo || parsed instanceof PEMKeyPair
                    || parsed instanceof org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo
                    || parsed instanceof org.bouncycastle.openssl.PEMEncryptedKeyPair));
        } catch (IOException | RuntimeException e) {
            if (e instanceof java.nio.file.NoSuchFileException || e instanceof java.nio.file.AccessDeniedException) {
                throw new IOException(keyFile + ": cannot read (" + e.getMessage() + "); check the path and its permissions", e);
            }
            parsed = null;
        }
        try {
            if (parsed instanceof PrivateKeyInfo info) {
                return new JcaPEMKeyConverter().getPrivateKey(info);
            }
            if (parsed instanceof PEMKeyPair pair) {
                return new JcaPEMKeyConverter().getKeyPair(pair).getPrivate();
            }
        } catch (IOException e) {
            throw new IOException(keyFile + ": unusable private key (" + e.getMessage() + "); put the certificate's private key, unencrypted PEM, there", e);
        }
        String what = parsed == null ? "no PEM private key in it" : "an encrypted or unsupported key";
        throw new IOException(keyFile + ": " + what + "; put the certificate's private key, unencrypted PEM (PKCS#8), there");
    }

    /** True when data signed with {@code key} verifies with {@code certKey}: the proof that they are one pair. */
    static boolean belongTogether(PrivateKey key, PublicKey certKey, Path keyFile, Path certFile) throws IOException {
        if (!Objects.equals(key.getAlgorithm(), certKey.getAlgorithm())) {
            return false;
        }
        try {
            Signature signer = signatureFor(key.getAlgorithm(), keyFile);
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signature = signer.sign();
            Signature verifier = signatureFor(key.getAlgorithm(), keyFile);
            verifier.initVerify(certKey);
            verifier.update(challenge);
            return verifier.verify(signature);
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException(keyFile + " cannot be checked against " + certFile + " (" + e.getMessage()
                    + "); use an RSA, ECDSA or Ed25519 key", e);
        }
    }

    private static Signature signatureFor(String keyAlgorithm, Path keyFile) throws java.security.GeneralSecurityException {
        return switch (keyAlgorithm) {
            case "RSA" -> Signature.getInstance("SHA256withRSA");
            case "EC" -> Signature.getInstance("SHA256withECDSA");
            case "EdDSA", "Ed25519", "Ed448" -> Signature.getInstance("EdDSA");
            case "RSASSA-PSS" -> {
                Signature s = Signature.getInstance("RSASSA-PSS");
                s.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
                yield s;
            }
            default -> throw new java.security.NoSuchAlgorithmException("unsupported key type " + keyAlgorithm + " in " + keyFile);
        };
    }

    /**
     * What the poller compares: a digest of each file's bytes (null when unreadable). Contents, not
     * modification times, so a copy that keeps the old time ({@code cp -p}) or lands within the
     * file system's time granularity is still seen.
     */
    private record FilesSeen(String cert, String key) {
        static FilesSeen of(Path certFile, Path keyFile) {
            return new FilesSeen(digest(certFile), digest(keyFile));
        }

        boolean bothPresent() {
            return cert != null && key != null;
        }

        private static String digest(Path p) {
            try {
                return java.util.HexFormat.of().formatHex(
                        java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
            } catch (IOException | java.security.NoSuchAlgorithmException e) {
                return null;
            }
        }
    }
}
