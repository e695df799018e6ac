package dev.enclave.gateway.tls;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.SecureRandom;

/**
 * A hand-built TLS 1.2 ClientHello that offers DEFLATE compression before "null", sent over a
 * plain socket; reads back which compression method the server's ServerHello chose. Needed because
 * Debian's sslscan (and OpenSSL 3) is built without zlib and cannot offer compression at all.
 */
final class ServerHelloProbe {
    /** What the ServerHello said: protocol version (0x0303 = TLS 1.2), cipher suite id, compression method. */
    record ServerHello(int version, int cipherSuite, int compressionMethod) {
    }

    static final int DEFLATE = 1;

    private ServerHelloProbe() {
    }

    static ServerHello offerDeflate(InetSocketAddress server) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(server, 5000);
            s.setSoTimeout(5000);
            s.getOutputStream().write(clientHello());
            s.getOutputStream().flush();
            return read(new DataInputStream(s.getInputStream()));
        }
    }

    static byte[] clientHello() {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.write(0x03);
        body.write(0x03); // client_version TLS 1.2, and no supported_versions extension: no TLS 1.3
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        body.writeBytes(random);
        body.write(0); // no session id
        int[] suites = {0xC02B, 0xC02C, 0xCCA9, 0xC02F, 0xC030, 0xCCA8};
        u16(body, suites.length * 2);
        for (int suite : suites) {
            u16(body, suite);
        }
        body.writeBytes(new byte[] {2, DEFLATE, 0}); // compression methods: DEFLATE first, then null
        ByteArrayOutputStream ext = new ByteArrayOutputStream();
        extension(ext, 0x000a, new byte[] {0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18}); // groups x25519, P-256, P-384
        extension(ext, 0x000b, new byte[] {1, 0}); // EC point formats: uncompressed
        extension(ext, 0x000d, new byte[] {0, 8, 0x04, 0x03, 0x05, 0x03, 0x08, 0x04, 0x04, 0x01}); // signature algorithms
        extension(ext, 0xff01, new byte[] {0}); // renegotiation_info, empty (RFC 5746)
        u16(body, ext.size());
        body.writeBytes(ext.toByteArray());

        ByteArrayOutputStream record = new ByteArrayOutputStream();
        record.writeBytes(new byte[] {0x16, 0x03, 0x01});
        u16(record, body.size() + 4);
        record.write(0x01); // ClientHello
        record.write(0);
        u16(record, body.size());
        record.writeBytes(body.toByteArray());
        return record.toByteArray();
    }

    static ServerHello read(DataInputStream in) throws IOException {
        int type = in.readUnsignedByte();
        in.readUnsignedShort();
        int length = in.readUnsignedShort();
        byte[] fragment = new byte[length];
        in.readFully(fragment);
        if (type == 0x15) {
            throw new IOException("the server answered with TLS alert " + (fragment.length > 1 ? fragment[1] & 0xff : -1));
        }
        if (type != 0x16 || fragment[0] != 0x02) {
            throw new IOException("expected a ServerHello, got record type " + type + " message " + fragment[0]);
        }
        int at = 4;
        int version = ((fragment[at] & 0xff) << 8) | (fragment[at + 1] & 0xff);
        at += 2 + 32;
        at += 1 + (fragment[at] & 0xff); // session id
        int suite = ((fragment[at] & 0xff) << 8) | (fragment[at + 1] & 0xff);
        at += 2;
        return new ServerHello(version, suite, fragment[at] & 0xff);
    }

    private static void extension(ByteArrayOutputStream out, int type, byte[] data) {
        u16(out, type);
        u16(out, data.length);
        out.writeBytes(data);
    }

    private static void u16(ByteArrayOutputStream out, int v) {
        out.write((v >> 8) & 0xff);
        out.write(v & 0xff);
    }
}
