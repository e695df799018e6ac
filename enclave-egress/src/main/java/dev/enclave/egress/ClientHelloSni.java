package dev.enclave.egress;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * Reads the server name from a TLS ClientHello body (the bytes after the 4-byte handshake header).
 * Strict: a truncated or inconsistent message, or more than one host_name, is malformed.
 */
final class ClientHelloSni {
    static final class MalformedClientHello extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedClientHello(String message) {
            super(message, null, false, false);
        }
    }

    private ClientHelloSni() {
    }

    /** The host_name of the server_name extension, or null when the ClientHello has none. */
    static String extract(ByteBuf hello) throws MalformedClientHello {
        int i = hello.readerIndex();
        int end = hello.writerIndex();
        i = skip(hello, i, end, 2 + 32);                 // legacy_version, random
        i = skip(hello, i, end, 1 + u8(hello, i, end));   // legacy_session_id
        i = skip(hello, i, end, 2 + u16(hello, i, end));  // cipher_suites
        i = skip(hello, i, end, 1 + u8(hello, i, end));   // legacy_compression_methods
        if (i == end) {
            return null;                                  // no extensions at all
        }
        int extEnd = i + 2 + u16(hello, i, end);
        if (extEnd != end) {
            throw new MalformedClientHello("extensions length does not match the ClientHello");
        }
        i += 2;
        String name = null;
        boolean seen = false;
        while (i < extEnd) {
            int type = u16(hello, i, extEnd);
            int len = u16(hello, i + 2, extEnd);
            int dataStart = i + 4;
            int dataEnd = skip(hello, dataStart, extEnd, len);
            if (type == 0) {
                if (seen) {
                    throw new MalformedClientHello("two server_name extensions");
                }
                seen = true;
                name = serverName(hello, dataStart, dataEnd);
            }
            i = dataEnd;
        }
        return name;
    }

    private static String serverName(ByteBuf b, int start, int end) throws MalformedClientHello {
        int listEnd = start + 2 + u16(b, start, end);
        if (listEnd != end) {
            throw new MalformedClientHello("server_name list length mismatch");
        }
        String name = null;
        int i = start + 2;
        while (i < listEnd) {
            int type = u8(b, i, listEnd);
            int len = u16(b, i + 1, listEnd);
            int nameStart = i + 3;
            int nameEnd = skip(b, nameStart, listEnd, len);
            if (type == 0) {
                if (name != null) {
                    throw new MalformedClientHello("two host_name entries");
                }
                for (int j = nameStart; j < nameEnd; j++) {
                    byte c = b.getByte(j);
                    if (c <= 0x20 || c >= 0x7f) {
                        throw new MalformedClientHello("host_name is not printable ASCII");
                    }
                }
                name = b.toString(nameStart, len, StandardCharsets.US_ASCII);
            }
            i = nameEnd;
        }
        return name;
    }

    private static int skip(ByteBuf b, int i, int end, int n) throws MalformedClientHello {
        if (n < 0 || i + n > end) {
            throw new MalformedClientHello("truncated ClientHello");
        }
        return i + n;
    }

    private static int u8(ByteBuf b, int i, int end) throws MalformedClientHello {
        skip(b, i, end, 1);
        return b.getUnsignedByte(i);
    }

    private static int u16(ByteBuf b, int i, int end) throws MalformedClientHello {
        skip(b, i, end, 2);
        return b.getUnsignedShort(i);
    }
}
