package dev.enclave.egress.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** A byte-exact client: sends exactly what a test writes and reads a response head back. */
public final class RawClient implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    public RawClient(InetSocketAddress proxy) throws IOException {
        socket = new Socket();
        socket.connect(proxy, 5000);
        socket.setSoTimeout(10_000);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    public Socket socket() {
        return socket;
    }

    public RawClient send(String text) throws IOException {
        return send(text.getBytes(StandardCharsets.UTF_8));
    }

    public RawClient send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
        return this;
    }

    /** Sends a CONNECT for {@code authority} and returns the response head. */
    public static Response connect(InetSocketAddress proxy, String authority) throws IOException {
        try (RawClient c = new RawClient(proxy)) {
            c.send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
            return c.readResponse();
        }
    }

    /** Reads a response head, then the body named by Content-Length (if any). */
    public Response readResponse() throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!endsWithBlankLine(head.toByteArray())) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed before a complete response head: " + head);
            }
            head.write(b);
        }
        String text = head.toString(StandardCharsets.ISO_8859_1);
        int status = Integer.parseInt(text.substring(9, 12));
        String body = "";
        for (String line : text.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                int n = Integer.parseInt(line.substring(15).trim());
                body = new String(in.readNBytes(n), StandardCharsets.UTF_8);
            }
        }
        return new Response(status, text, body);
    }

    private static boolean endsWithBlankLine(byte[] b) {
        int n = b.length;
        return n >= 4 && b[n - 4] == '\r' && b[n - 3] == '\n' && b[n - 2] == '\r' && b[n - 1] == '\n';
    }

    /** Reads until the peer closes (or {@code timeoutMillis} passes); returns what arrived and whether it closed. */
    public Drained drain(int timeoutMillis) throws IOException {
        socket.setSoTimeout(timeoutMillis);
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            while (true) {
                int n = in.read(buf);
                if (n < 0) {
                    return new Drained(got.toByteArray(), true);
                }
                got.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            return new Drained(got.toByteArray(), false);
        } catch (java.net.SocketException e) {
            return new Drained(got.toByteArray(), true); // reset counts as closed
        }
    }

    public byte[] readExactly(int n) throws IOException {
        return in.readNBytes(n);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    public record Response(int status, String head, String body) {
        /** The X-Enclave-Reason header, or null. */
        public String reason() {
            for (String line : head.split("\r\n")) {
                if (line.startsWith("X-Enclave-Reason: ")) {
                    return line.substring(18);
                }
            }
            return null;
        }
    }

    public record Drained(byte[] bytes, boolean closed) {
    }
}
