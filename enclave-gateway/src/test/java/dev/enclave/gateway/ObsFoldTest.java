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
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Obsolete line folding, over raw TLS sockets: a folded head is answered 400 and never reaches the
 * app, wherever the fold is and however the bytes are split; the same bytes inside a body are data.
 */
class ObsFoldTest {
    private static final String PASS = "a long passphrase";
    @TempDir
    Path state;
    private HttpServer app;
    private final Queue<String> appSaw = new ConcurrentLinkedQueue<>();
    private GatewayServer gateway;
    private AuditLog audit;
    private InetSocketAddress address;
    private String auth;

    @BeforeEach
    void start() throws Exception {
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.ISO_8859_1);
            appSaw.add(ex.getRequestMethod() + " " + ex.getRequestURI() + (body.isEmpty() ? "" : " body=" + body));
            ex.sendResponseHeaders(204, -1);
            ex.close();
        });
        app.start();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        auth = "Authorization: Basic " + Base64.getEncoder().encodeToString(("alice:" + PASS).getBytes(StandardCharsets.UTF_8)) + "\r\n";
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.getAddress().getPort()), state.resolve("users"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 5, Duration.ofMinutes(10), Duration.ofHours(1)), audit);
        address = gateway.start();
    }

    @AfterEach
    void stop() {
        gateway.close();
        app.stop(0);
        audit.close();
    }

    @Test
    void aFoldContinuingTheFirstHeaderIsRefused() throws Exception {
        assertThat(exchange("GET /x HTTP/1.1\r\nHost: gw\r\n continued\r\n" + auth + "\r\n"))
                .startsWith("HTTP/1.1 400").contains("obsolete line folding");
        assertThat(appSaw).isEmpty();
    }

    @Test
    void aFoldContinuingALaterHeaderIsRefused() throws Exception {
        assertThat(exchange("GET /x HTTP/1.1\r\nHost: gw\r\n" + auth + "X-Note: one\r\n\ttwo\r\n\r\n"))
                .startsWith("HTTP/1.1 400").contains("obsolete line folding");
        assertThat(appSaw).isEmpty();
    }

    @Test
    void aFoldInAPipelinedSecondRequestRefusesItAfterTheFirstIsAnswered() throws Exception {
        String got = exchange("GET /first HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n"
                + "GET /second HTTP/1.1\r\nHost: gw\r\n" + auth + "X-Note: one\r\n two\r\n\r\n");
        assertThat(got).startsWith("HTTP/1.1 204").contains("HTTP/1.1 400");
        assertThat(appSaw).containsExactly("GET /first");
    }

    @Test
    void aFoldSplitAcrossTwoWritesIsRefused() throws Exception {
        try (SSLSocket s = socket()) {
            OutputStream out = s.getOutputStream();
            out.write(("GET /x HTTP/1.1\r\nHost: gw\r\n" + auth + "X-Note: one\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            Thread.sleep(100); // lets the gateway read the first part on its own; the unit test covers every split exactly
            out.write(" two\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            assertThat(readUntilClosed(s.getInputStream())).startsWith("HTTP/1.1 400").contains("obsolete line folding");
        }
        assertThat(appSaw).isEmpty();
    }

    @Test
    void lineBreaksFollowedBySpacesInsideABodyAreDataAndReachTheApp() throws Exception {
        String body = "a\r\n b\r\n\tc\r\n\r\n";
        String chunk = Integer.toHexString(body.length()) + "\r\n" + body + "\r\n0\r\n\r\n";
        String got = exchange("POST /fixed HTTP/1.1\r\nHost: gw\r\n" + auth + "Content-Length: " + body.length() + "\r\n\r\n" + body
                + "POST /chunked HTTP/1.1\r\nHost: gw\r\n" + auth + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk);
        assertThat(got.split("HTTP/1\\.1 204", -1)).hasSize(3);
        assertThat(appSaw).containsExactly("POST /fixed body=" + body, "POST /chunked body=" + body);
    }

    private String exchange(String wire) throws Exception {
        try (SSLSocket s = socket()) {
            s.getOutputStream().write(wire.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            return readUntilClosed(s.getInputStream());
        }
    }

    private static String readUntilClosed(InputStream in) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try {
            in.transferTo(got);
        } catch (SocketTimeoutException | SocketException e) {
            // the gateway keeps a good connection open; what arrived so far is the answer
        }
        return got.toString(StandardCharsets.ISO_8859_1);
    }

    private SSLSocket socket() throws Exception {
        return GatewayTrust.socket(state, address.getPort(), 3000);
    }
}
