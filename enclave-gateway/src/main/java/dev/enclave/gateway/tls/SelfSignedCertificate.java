package dev.enclave.gateway.tls;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
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
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The gateway's certificate when the operator brings none: an ECDSA P-256 key and a self-signed
 * certificate whose subject alternative names are the configured host names and the listen
 * address (the seed guide's {@code CN=localhost} certificate matched neither). Created once in the
 * state directory ({@code tls/key.pem} mode 0600, {@code tls/cert.pem}) and reused while it covers
 * the same names and has more than 30 days left, so its fingerprint stays what users pinned.
 */
public final class SelfSignedCertificate {
    private static final Duration VALIDITY = Duration.ofDays(397);
    private static final Duration RENEW_BEFORE = Duration.ofDays(30);

    private final Path cert;
    private final Path key;
    private final X509Certificate certificate;

    private SelfSignedCertificate(Path cert, Path key, X509Certificate certificate) {
        this.cert = cert;
        this.key = key;
        this.certificate = certificate;
    }

    /** Reuses or creates the certificate for {@code names} and {@code addresses} in {@code stateDir/tls}. */
    public static SelfSignedCertificate ensure(Path stateDir, List<String> names, List<InetAddress> addresses) throws IOException {
        Path dir = stateDir.resolve("tls");
        Files.createDirectories(dir);
        Path cert = dir.resolve("cert.pem");
        Path key = dir.resolve("key.pem");
        Set<String> wanted = sans(names, addresses);
        if (Files.exists(cert) && Files.exists(key)) {
            X509Certificate existing = read(cert);
            if (sansOf(existing).equals(wanted)
                    && existing.getNotAfter().toInstant().isAfter(Instant.now().plus(RENEW_BEFORE))) {
                return new SelfSignedCertificate(cert, key, existing);
            }
        }
        return create(cert, key, names, addresses);
    }

    public Path certFile() {
        return cert;
    }

    public Path keyFile() {
        return key;
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /** SHA-256 of the certificate, as {@code AB:CD:...}, for users to compare with what their browser shows. */
    public String fingerprint() {
        return fingerprint(certificate);
    }

    public static String fingerprint(X509Certificate c) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(c.getEncoded());
            return HexFormat.ofDelimiter(":").withUpperCase().formatHex(d);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static SelfSignedCertificate create(Path cert, Path key, List<String> names, List<InetAddress> addresses)
            throws IOException {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(256);
            KeyPair pair = gen.generateKeyPair();
            Instant now = Instant.now();
            String cn = names.isEmpty() ? addresses.get(0).getHostAddress() : names.get(0);
            X500Name subject = new X500Name("CN=" + cn.replaceAll("[,+=\"\\\\<>;]", "") + ",O=Enclave self-signed");
            JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, new BigInteger(96, new SecureRandom()),
                    Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(VALIDITY)), subject, pair.getPublic());
            List<GeneralName> sans = new ArrayList<>();
            for (String n : names) {
                sans.add(new GeneralName(GeneralName.dNSName, n));
            }
            for (InetAddress a : addresses) {
                sans.add(new GeneralName(GeneralName.iPAddress, a.getHostAddress()));
            }
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            X509Certificate c = new JcaX509CertificateConverter()
                    .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate())));
            writeAtomically(key, pem(new JcaPKCS8Generator(pair.getPrivate(), null)), "rw-------");
            writeAtomically(cert, pem(c), "rw-r--r--");
            return new SelfSignedCertificate(cert, key, c);
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("creating a self-signed certificate: " + e.getMessage(), e);
        }
    }

    private static String pem(Object o) throws IOException {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter pw = new JcaPEMWriter(w)) {
            pw.writeObject(o);
        }
        return w.toString();
    }

    private static void writeAtomically(Path file, String text, String mode) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try {
            Files.writeString(tmp, text, StandardCharsets.US_ASCII);
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(mode));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    static X509Certificate read(Path cert) throws IOException {
        try (var in = Files.newInputStream(cert)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        } catch (java.security.cert.CertificateException e) {
            throw new IOException(cert + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
    }

    private static Set<String> sans(List<String> names, List<InetAddress> addresses) {
        Set<String> out = new LinkedHashSet<>();
        names.forEach(n -> out.add("dns:" + n));
        addresses.forEach(a -> out.add("ip:" + a.getHostAddress()));
        return out;
    }

    private static Set<String> sansOf(X509Certificate c) throws IOException {
        Set<String> out = new LinkedHashSet<>();
        try {
            if (c.getSubjectAlternativeNames() != null) {
                for (List<?> san : c.getSubjectAlternativeNames()) {
                    int type = (Integer) san.get(0);
                    String value = String.valueOf(san.get(1));
                    if (type == 2) {
                        out.add("dns:" + value);
                    } else if (type == 7) {
                        out.add("ip:" + InetAddress.getByName(value).getHostAddress());
                    }
                }
            }
        } catch (java.security.cert.CertificateParsingException e) {
            throw new IOException(e);
        }
        return out;
    }
}
