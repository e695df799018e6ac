package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a client may send ahead of its answers on one HTTP/1.1 connection: pipelined requests are
 * held (and reading paused) until the response before them is complete, and what is held is
 * bounded, so a client cannot make the gateway keep an unbounded number of decoded requests.
 */
class PipeliningLimitsTest {
    private static final String PASS = "a long passphrase";
    @TempDir
    Path state;
    private HttpServer app;
    private final AtomicInteger appRequests = new AtomicInteger();
    /** {@code /wait} is answered once the test releases it. */
    private final Semaphore answerWait = new Semaphore(0);
    private GatewayServer gateway;
    private AuditLog audit;
    private int port;
    private String auth;

    @BeforeEach
    void start() throws Exception {
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            appRequests.incrementAndGet();
            ex.getRequestBody().readAllBytes();
            if (ex.getRequestURI().getPath().equals("/wait")) {
                answerWait.acquireUninterruptibly();
            }
            byte[] body = "ok".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.setExecutor(Executors.newCachedThreadPool());
        app.start();
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        auth = "Authorization: Basic " + Base64.getEncoder().encodeToString(("alice:" + PASS).getBytes(StandardCharsets.UTF_8)) + "\r\n";
        audit = AuditLog.open(state.resolve("audit.log"));
        startGateway(app.getAddress().getPort());
    }

    private void startGateway(int upstreamPort) throws Exception {
        if (gateway != null) {
            gateway.close();
        }
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + upstreamPort), state.resolve("users"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 5, Duration.ofMinutes(10), Duration.ofHours(1)), audit);
        port = gateway.start().getPort();
    }

    @AfterEach
    void stop() {
        gateway.close();
        answerWait.release(100);
        app.stop(0);
        audit.close();
    }

    @Test
    void moreRequestsAheadThanTheLimitGet503AfterTheAnswerInProgressAndTheConnectionCloses() throws Exception {
        StringBuilder ahead = new StringBuilder();
        for (int i = 0; i <= AuthHandler.MAX_HELD_REQUESTS; i++) {
            ahead.append("GET /r").append(i).append(" HTTP/1.1\r\nHost: gw\r\n").append(auth).append("\r\n");
        }
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try (SSLSocket s = GatewayTrust.socket(state, port, 10_000)) {
            s.getOutputStream().write(("GET /wait HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            while (appRequests.get() == 0) {
                Thread.sleep(10); // until /wait is at the app: the requests below are pipelined behind its answer
            }
            s.getOutputStream().write(ahead.toString().getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            answerWait.release();
            s.getInputStream().transferTo(got);
        } catch (SocketException reset) {
            // closed by the gateway while requests were still unread: what arrived before counts
        }
        String text = got.toString(StandardCharsets.ISO_8859_1);
        assertThat(text).startsWith("HTTP/1.1 200");
        assertThat(text.split("HTTP/1\\.1 ", -1)).as("two answers: /wait's, then the refusal").hasSize(3);
        assertThat(text).contains("HTTP/1.1 503").contains("too many pipelined requests");
        assertThat(appRequests.get()).isEqualTo(1);
    }

    @Test
    void requestsUpToTheLimitAheadAreAllAnsweredInOrder() throws Exception {
        StringBuilder requests = new StringBuilder();
        int n = AuthHandler.MAX_HELD_REQUESTS; // one in flight, the rest held
        for (int i = 0; i < n; i++) {
            requests.append("GET /r").append(i).append(" HTTP/1.1\r\nHost: gw\r\n").append(auth)
                    .append(i == n - 1 ? "Connection: close\r\n" : "").append("\r\n");
        }
        String got = sendAndReadAll(requests.toString());
        assertThat(got.split("HTTP/1\\.1 200", -1)).hasSize(n + 1);
        assertThat(appRequests.get()).isEqualTo(n);
    }

    /** Writes {@code requests} in one go, then reads until the gateway closes. */
    private String sendAndReadAll(String requests) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try (SSLSocket s = GatewayTrust.socket(state, port, 10_000)) {
            s.getOutputStream().write(requests.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            in.transferTo(got);
        } catch (SocketException reset) {
            // closed by the gateway while requests were still unread: what arrived before counts
        }
        return got.toString(StandardCharsets.ISO_8859_1);
    }
}
