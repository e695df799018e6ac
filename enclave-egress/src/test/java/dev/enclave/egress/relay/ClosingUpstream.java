package dev.enclave.egress.relay;

import dev.enclave.egress.testing.TestPki;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLServerSocket;

/**
 * A TLS HTTP/1.1 upstream (raw sockets, keep-alive) that closes one connection without answering,
 * as a server does when its keep-alive timeout meets a request on the wire: request number
 * {@code closeOn} of the first connection gets the close; every other request is answered 200.
 * Records what arrived and on which connection.
 */
final class ClosingUpstream implements AutoCloseable {
    record Seen(int connection, String requestLine, String body) {
    }

    private final SSLServerSocket server;
    private final int closeOn;
    private final AtomicInteger connections = new AtomicInteger();
    private final List<Seen> seen = new CopyOnWriteArrayList<>();

    ClosingUpstream(TestPki pki, int closeOn) throws IOException {
        this.closeOn = closeOn;
        server = (SSLServerSocket) pki.serverContext().getServerSocketFactory()
                .createServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::accept, "closing-upstream");
        t.setDaemon(true);
        t.start();
    }

    int port() {
        return server.getLocalPort();
    }

    List<Seen> seen() {
        return List.copyOf(seen);
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                int n = connections.incrementAndGet();
                Thread t = new Thread(() -> serve(s, n), "closing-upstream-" + n);
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s, int connection) {
        try (s) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            for (int request = 1; ; request++) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                int length = 0;
                for (String line : head.split("\r\n")) {
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).trim());
                    }
                }
                String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
                seen.add(new Seen(connection, head.substring(0, head.indexOf("\r\n")), body));
                if (connection == 1 && request == closeOn) {
                    return; // close without a byte of answer
                }
                byte[] json = "{\"ok\":true}".getBytes(StandardCharsets.UTF_8);
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + json.length
                        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(json);
                out.flush();
            }
        } catch (IOException e) {
            // the relay went away: nothing to record
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (true) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            head.write(b);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                return head.toString(StandardCharsets.ISO_8859_1);
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
