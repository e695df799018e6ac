package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client idle timeout (lowered to 1 s here; 60 s in the product): a client that stops
 * sending while it is its turn is disconnected, a client waiting for a slow app is not.
 */
class ClientIdleTest {
    private static final String PASS = "a long passphrase";
    /** Far beyond the 1 s idle timeout: a read that ends by timing out means the gateway kept the connection. */
    private static final int PATIENCE_MILLIS = 8_000;
    @TempDir
    Path state;
    private HttpServer app;
    private GatewayServer gateway;
    private AuditLog audit;
    private int port;
    private String auth;

    @BeforeEach
    void start() throws Exception {
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes(); // an app answers once it has the whole request
            if (ex.getRequestURI().getPath().equals("/slow")) {
                try {
                    Thread.sleep(3_000); // three idle timeouts long: the app, not the client, owes the next byte
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            byte[] body = "done".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        app.start();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        auth = "Authorization: Basic " + Base64.getEncoder().encodeToString(("alice:" + PASS).getBytes(StandardCharsets.UTF_8)) + "\r\n";
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.getAddress().getPort()), state.resolve("users"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 5, Duration.ofMinutes(10), Duration.ofHours(1))
                .withClientIdle(Duration.ofSeconds(1)), audit);
        port = gateway.start().getPort();
    }

    @AfterEach
    void stop() {
        gateway.close();
        app.stop(0);
        audit.close();
    }

    @Test
    void aHeadThatIsNeverFinishedIsCutEvenWhileBytesKeepTrickling() throws Exception {
        try (SSLSocket s = GatewayTrust.socket(state, port, PATIENCE_MILLIS)) {
            OutputStream out = s.getOutputStream();
            out.write("GET / HTTP/1.1\r\nHost: gw\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            // Slow loris: a header byte every 300 ms; partial heads are not activity.
            boolean cut = false;
            for (int i = 0; i < 20 && !cut; i++) {
                Thread.sleep(300);
                try {
                    out.write('X');
                    out.flush();
                } catch (java.io.IOException closed) {
                    cut = true;
                }
            }
            assertThat(cut || readAll(s.getInputStream()).closed).as("the gateway closed the slow-loris connection").isTrue();
        }
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAfterItsResponse() throws Exception {
        try (SSLSocket s = GatewayTrust.socket(state, port, PATIENCE_MILLIS)) {
            s.getOutputStream().write(("GET /fast HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            Read r = readAll(s.getInputStream());
            assertThat(r.text).startsWith("HTTP/1.1 200").endsWith("done");
            assertThat(r.closed).as("closed by the gateway before the test's own read timeout").isTrue();
        }
    }

    @Test
    void aSlowAppIsWaitedForBecauseTheClientOwesNothingMeanwhile() throws Exception {
        try (SSLSocket s = GatewayTrust.socket(state, port, PATIENCE_MILLIS)) {
            s.getOutputStream().write(("GET /slow HTTP/1.1\r\nHost: gw\r\n" + auth + "Connection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            assertThat(readAll(s.getInputStream()).text).startsWith("HTTP/1.1 200").endsWith("done");
        }
    }

    @Test
    void after100ContinueASlowAppIsStillWaitedFor() throws Exception {
        try (SSLSocket s = GatewayTrust.socket(state, port, PATIENCE_MILLIS)) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /slow HTTP/1.1\r\nHost: gw\r\n" + auth + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            assertThat(readUntil(in, "\r\n\r\n").text).startsWith("HTTP/1.1 100 Continue\r\n");
            out.write("hello".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            // The app answers after 3 s, three idle timeouts: the 100's end is not the response's end.
            Read r = readUntil(in, "done");
            assertThat(r.text).startsWith("HTTP/1.1 200").endsWith("done");
        }
    }

    @Test
    void anUnfinishedBodyIsCut() throws Exception {
        try (SSLSocket s = GatewayTrust.socket(state, port, PATIENCE_MILLIS)) {
            s.getOutputStream().write(("POST /upload HTTP/1.1\r\nHost: gw\r\n" + auth + "Content-Length: 100\r\n\r\nonly ten b")
                    .getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            Read r = readAll(s.getInputStream());
            assertThat(r.closed).as("closed by the gateway before the test's own read timeout").isTrue();
            assertThat(r.text).doesNotContain("done");
        }
    }

    @Test
    void anH2ConnectionWithNoOpenStreamIsClosedWithGoaway() throws Exception {
        try (SSLSocket s = (SSLSocket) GatewayTrust.context(state).getSocketFactory().createSocket("127.0.0.1", port)) {
            javax.net.ssl.SSLParameters alpn = s.getSSLParameters();
            alpn.setApplicationProtocols(new String[] {"h2"});
            s.setSSLParameters(alpn);
            s.setSoTimeout(PATIENCE_MILLIS);
            s.startHandshake();
            assertThat(s.getApplicationProtocol()).isEqualTo("h2");
            OutputStream out = s.getOutputStream();
            out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // an empty SETTINGS frame, then silence
            out.flush();
            InputStream in = s.getInputStream();
            List<Integer> frameTypes = new java.util.ArrayList<>();
            byte[] head = new byte[9];
            while (in.readNBytes(head, 0, 9) == 9) { // ends at the gateway's close; a timeout would throw
                int length = (head[0] & 0xff) << 16 | (head[1] & 0xff) << 8 | head[2] & 0xff;
                frameTypes.add((int) head[3]);
                in.readNBytes(length);
            }
            assertThat(frameTypes).as("frame types sent by the gateway").contains(7); // GOAWAY
        }
    }

    private record Read(String text, boolean closed) {
    }

    /** Everything until {@code end} arrived, the gateway closes (closed) or the test's patience runs out. */
    private static Read readUntil(InputStream in, String end) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            for (int n; !got.toString(StandardCharsets.ISO_8859_1).endsWith(end) && (n = in.read(buf)) >= 0; ) {
                got.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            return new Read(got.toString(StandardCharsets.ISO_8859_1), false);
        } catch (java.net.SocketException e) {
            return new Read(got.toString(StandardCharsets.ISO_8859_1), true);
        }
        return new Read(got.toString(StandardCharsets.ISO_8859_1), true);
    }

    /** Everything until the gateway closes (closed) or the test's patience runs out (not closed). */
    private static Read readAll(InputStream in) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                got.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            return new Read(got.toString(StandardCharsets.ISO_8859_1), false);
        } catch (java.net.SocketException e) {
            return new Read(got.toString(StandardCharsets.ISO_8859_1), true); // reset: closed too
        }
        return new Read(got.toString(StandardCharsets.ISO_8859_1), true);
    }
}
