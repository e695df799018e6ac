package dev.enclave.gateway.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * What {@code sslscan --xml=-} found on a TLS server, and the gateway's policy judged against it:
 * {@link #problems()} lists every way the server falls short, one sentence each, empty when it
 * passes. A scan that saw nothing (no connection, no ciphers) is itself a problem, so an empty
 * list cannot come from a scan that did not run.
 */
record SslScanReport(Map<String, Boolean> protocols, List<Cipher> ciphers, Boolean renegotiationSupported,
                     Boolean renegotiationSecure, Boolean compression, List<String> heartbleed, String certificateKeyType,
                     String raw) {

    /** One accepted cipher suite: protocol ("TLSv1.2"), OpenSSL or IANA name, sslscan's strength word. */
    record Cipher(String protocol, String name, String strength) {
    }

    static final List<String> ALL_PROTOCOLS = List.of("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3");
    static final Set<String> REQUIRED_PROTOCOLS = Set.of("TLSv1.2", "TLSv1.3");
    /** TLS 1.3 suites are all ECDHE/DHE-keyed; these three are the AEADs with a full-length tag. */
    static final Set<String> TLS13_AEAD = Set.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256");
    /** Words in OpenSSL suite names that mark a broken or unauthenticated suite, named in the problem. */
    static final List<String> WEAK_MARKS = List.of("RC4", "DES", "NULL", "EXP", "ADH", "AECDH", "anon", "MD5", "CBC", "PSK", "SRP");

    /** Runs {@code sslscan} (at most 2 minutes) against host:port and reads its XML. */
    static SslScanReport scan(String sslscan, String host, int port) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(sslscan, "--no-colour", "--xml=-", host + ":" + port)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IOException("sslscan did not finish in 2 minutes");
        }
        return parse(new String(out, StandardCharsets.UTF_8));
    }

    static SslScanReport parse(String stdout) throws IOException {
        int start = stdout.indexOf("<?xml");
        if (start < 0) {
            throw new IOException("sslscan printed no XML: " + stdout);
        }
        Document doc;
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            doc = f.newDocumentBuilder().parse(new ByteArrayInputStream(stdout.substring(start).getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            throw new IOException("sslscan XML did not parse: " + e.getMessage() + "\n" + stdout, e);
        }
        Map<String, Boolean> protocols = new LinkedHashMap<>();
        for (Element e : elements(doc, "protocol")) {
            String name = ("ssl".equals(e.getAttribute("type")) ? "SSLv" : "TLSv") + e.getAttribute("version");
            protocols.put(name, "1".equals(e.getAttribute("enabled")));
        }
        List<Cipher> ciphers = new ArrayList<>();
        for (Element e : elements(doc, "cipher")) {
            ciphers.add(new Cipher(e.getAttribute("sslversion"), e.getAttribute("cipher"), e.getAttribute("strength")));
        }
        Boolean renegotiationSupported = null;
        Boolean renegotiationSecure = null;
        for (Element e : elements(doc, "renegotiation")) {
            renegotiationSupported = "1".equals(e.getAttribute("supported"));
            renegotiationSecure = "1".equals(e.getAttribute("secure"));
        }
        // Debian's sslscan is built without zlib and then prints no <compression> element at all;
        // null means "not checked here" (the gateway test probes compression itself).
        Boolean compression = null;
        for (Element e : elements(doc, "compression")) {
            compression = "1".equals(e.getAttribute("supported"));
        }
        List<String> heartbleed = new ArrayList<>();
        for (Element e : elements(doc, "heartbleed")) {
            if ("1".equals(e.getAttribute("vulnerable"))) {
                heartbleed.add(e.getAttribute("sslversion"));
            }
        }
        String keyType = null;
        for (Element e : elements(doc, "pk")) {
            keyType = e.getAttribute("type");
        }
        return new SslScanReport(protocols, ciphers, renegotiationSupported, renegotiationSecure, compression, heartbleed,
                keyType, stdout);
    }

    private static List<Element> elements(Document doc, String tag) {
        NodeList nodes = doc.getElementsByTagName(tag);
        List<Element> out = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            out.add((Element) nodes.item(i));
        }
        return out;
    }

    /** Every way this server falls short of the gateway's TLS policy; empty when it meets it. */
    List<String> problems() {
        List<String> problems = new ArrayList<>();
        if (!protocols.keySet().containsAll(ALL_PROTOCOLS)) {
            problems.add("sslscan did not report every protocol (saw " + protocols.keySet() + "); did it connect?");
        }
        protocols.forEach((protocol, enabled) -> {
            if (enabled && !REQUIRED_PROTOCOLS.contains(protocol)) {
                problems.add(protocol + " is offered");
            }
        });
        for (String required : REQUIRED_PROTOCOLS.stream().sorted().toList()) {
            if (!protocols.getOrDefault(required, false)) {
                problems.add(required + " is not offered");
            }
        }
        if (ciphers.isEmpty()) {
            problems.add("no cipher suite was accepted; did sslscan connect?");
        }
        for (Cipher c : ciphers) {
            String why = cipherProblem(c);
            if (why != null) {
                problems.add(c.protocol() + " cipher " + c.name() + " " + why);
            }
        }
        if (renegotiationSupported == null) {
            problems.add("sslscan did not report renegotiation");
        } else if (renegotiationSupported && !renegotiationSecure) {
            problems.add("insecure renegotiation (without RFC 5746) is supported");
        }
        if (Boolean.TRUE.equals(compression)) {
            problems.add("TLS compression is supported (CRIME)");
        }
        heartbleed.forEach(v -> problems.add(v + " is vulnerable to Heartbleed"));
        if (!"EC".equals(certificateKeyType)) {
            problems.add("certificate key is " + certificateKeyType + ", not ECDSA");
        }
        return problems;
    }

    /** Why this accepted suite breaks the policy, or null when it is forward-secret AEAD. */
    private static String cipherProblem(Cipher c) {
        for (String mark : WEAK_MARKS) {
            if (c.name().contains(mark)) {
                return "is weak (" + mark + ")";
            }
        }
        if (Set.of("weak", "medium", "null", "anonymous").contains(c.strength())) {
            return "is rated " + c.strength() + " by sslscan";
        }
        if ("TLSv1.3".equals(c.protocol())) {
            return TLS13_AEAD.contains(c.name()) ? null : "is not AES-GCM or ChaCha20-Poly1305";
        }
        if (!c.name().startsWith("ECDHE-")) {
            return "has no ECDHE key exchange (no forward secrecy)";
        }
        if (!c.name().contains("-GCM-") && !c.name().endsWith("CHACHA20-POLY1305")) {
            return "is not AEAD (AES-GCM or ChaCha20-Poly1305)";
        }
        return null;
    }
}
