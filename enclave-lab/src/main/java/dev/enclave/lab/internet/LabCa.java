package dev.enclave.lab.internet;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The lab's certificate authority: made fresh by each {@code lab up}, it signs one certificate for
 * every name the fake internet serves. Only the app side (its ca.pem) and the LLM relay (the
 * {@code ca:} of its llm entry) trust it; the private key is never written, so nothing else can be
 * signed with it once up is done.
 */
public final class LabCa {
    private static final char[] NO_PASSWORD = new char[0];

    private LabCa() {
    }

    /**
     * Writes {@code caPem} (mode 0644) and {@code serverP12} (0600: the servers' key and chain for
     * {@code names}), valid for two days.
     */
    public static void create(Path caPem, Path serverP12, List<String> names) throws IOException {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(256);
            KeyPair caKeys = gen.generateKeyPair();
            KeyPair leafKeys = gen.generateKeyPair();
            Instant now = Instant.now();
            Date from = Date.from(now.minus(Duration.ofHours(1)));
            Date until = Date.from(now.plus(Duration.ofDays(2)));
            X500Name caName = new X500Name("CN=Enclave lab CA " + now.getEpochSecond());
            JcaX509v3CertificateBuilder ca = new JcaX509v3CertificateBuilder(caName, serial(), from, until, caName, caKeys.getPublic());
            ca.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            ca.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            X509Certificate caCert = sign(ca, caKeys);

            JcaX509v3CertificateBuilder leaf = new JcaX509v3CertificateBuilder(caName, serial(), from, until,
                    new X500Name("CN=" + names.get(0)), leafKeys.getPublic());
            GeneralName[] sans = names.stream().map(n -> new GeneralName(GeneralName.dNSName, n)).toArray(GeneralName[]::new);
            leaf.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans));
            leaf.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            leaf.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            X509Certificate leafCert = sign(leaf, caKeys);

            StringWriter pem = new StringWriter();
            try (JcaPEMWriter w = new JcaPEMWriter(pem)) {
                w.writeObject(caCert);
            }
            Files.createDirectories(caPem.getParent());
            Files.writeString(caPem, pem.toString());
            Files.setPosixFilePermissions(caPem, PosixFilePermissions.fromString("rw-r--r--"));

            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("server", leafKeys.getPrivate(), NO_PASSWORD, new X509Certificate[] {leafCert, caCert});
            Files.deleteIfExists(serverP12);
            Files.createFile(serverP12, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try (OutputStream out = Files.newOutputStream(serverP12)) {
                ks.store(out, NO_PASSWORD);
            }
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("making the lab's certificates: " + e.getMessage(), e);
        }
    }

    /** The servers' TLS context from {@code serverP12}. */
    public static SSLContext serverContext(Path serverP12) throws IOException {
        try (InputStream in = Files.newInputStream(serverP12)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, NO_PASSWORD);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, NO_PASSWORD);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("reading " + serverP12 + ": " + e.getMessage(), e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(64, new SecureRandom());
    }

    private static X509Certificate sign(JcaX509v3CertificateBuilder builder, KeyPair issuer)
            throws OperatorCreationException, GeneralSecurityException {
        return new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.getPrivate())));
    }
}
