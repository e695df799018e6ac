package dev.enclave.gateway.tls;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Certificate and key files for tests: any key type and validity window, written as PEM. */
final class TestPairs {
    private TestPairs() {
    }

    record Pair(Path cert, Path key, X509Certificate certificate) {
    }

    /** An EC P-256 pair for gw.test valid from an hour ago for a year. */
    static Pair valid(Path dir) throws Exception {
        return write(dir, "EC", Instant.now().minus(Duration.ofHours(1)), Instant.now().plus(Duration.ofDays(365)));
    }

    static Pair write(Path dir, String keyType, Instant notBefore, Instant notAfter) throws Exception {
        Files.createDirectories(dir);
        KeyPairGenerator gen = KeyPairGenerator.getInstance(keyType);
        gen.initialize(keyType.equals("RSA") ? 2048 : 256);
        KeyPair pair = gen.generateKeyPair();
        X500Name subject = new X500Name("CN=gw.test");
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, new BigInteger(64, new SecureRandom()),
                Date.from(notBefore), Date.from(notAfter), subject, pair.getPublic());
        b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName(GeneralName.dNSName, "gw.test")));
        X509Certificate c = new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder(keyType.equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA").build(pair.getPrivate())));
        Path cert = dir.resolve("cert.pem");
        Path key = dir.resolve("key.pem");
        Files.writeString(cert, pem(c));
        Files.writeString(key, pem(new JcaPKCS8Generator(pair.getPrivate(), null)));
        return new Pair(cert, key, c);
    }

    private static String pem(Object o) throws IOException {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter pw = new JcaPEMWriter(w)) {
            pw.writeObject(o);
        }
        return w.toString();
    }
}
