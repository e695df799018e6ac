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

    /**
     * Uploads pipelined behind an upload to a slow app: each waits, its body unread beyond what
     * one read brought (well under the held limit), until the answer before it is complete, and all
     * are answered in order. (Whether the upstream's queue crosses its high water mark while a
     * request is held depends on the kernel's send buffer, so the regression of reading being
     * resumed by the upstream draining is pinned in {@code proxy.ReadPausesTest}.)
     */
    @Test
    void requestsPipelinedBehindASlowUploadWaitUnreadUntilTheirTurn() throws Exception {
        try (SlowApp slow = new SlowApp()) {
            startGateway(slow.port());
            int uploads = 3;
            byte[] big = new byte[1024 * 1024];
            java.util.Arrays.fill(big, (byte) 'b');
            java.util.concurrent.CompletableFuture<Void> sent = java.util.concurrent.CompletableFuture.runAsync(() -> { });
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            try (SSLSocket s = GatewayTrust.socket(state, port, 30_000)) {
                java.io.OutputStream out = new java.io.BufferedOutputStream(s.getOutputStream(), 64 * 1024);
                sent = java.util.concurrent.CompletableFuture.runAsync(() -> {
                    try {
                        for (int i = 0; i < uploads; i++) {
                            out.write(("POST /up" + i + " HTTP/1.1\r\nHost: gw\r\n" + auth + "Transfer-Encoding: chunked\r\n"
                                    + (i == uploads - 1 ? "Connection: close\r\n" : "") + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                            out.write((Integer.toHexString(big.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                            out.write(big);
                            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                            for (int c = 0; c < 8192; c++) {
                                out.write("4\r\ntail\r\n".getBytes(StandardCharsets.ISO_8859_1));
                            }
                            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                        }
                        out.flush();
                    } catch (java.io.IOException closed) {
                        // the gateway refused and closed: the reader sees why
                    }
                });
                s.getInputStream().transferTo(got);
            } catch (SocketException reset) {
                // closed by the gateway while the client was still sending
            }
            String text = got.toString(StandardCharsets.ISO_8859_1);
            assertThat(text).doesNotContain("HTTP/1.1 503");
            assertThat(text.split("HTTP/1\\.1 200", -1)).hasSize(uploads + 1);
            assertThat(slow.bodyLengths()).hasSize(uploads).containsOnly((long) big.length + 8192 * 4);
            sent.join();
        }
    }

    /**
     * An app that reads slowly (about 8 MB/s through a small receive buffer) and answers each
     * request with the length of the body it read; chunked bodies are read chunk by chunk.
     */
    private static final class SlowApp implements AutoCloseable {
        private final java.net.ServerSocket server;
        private final List<Long> bodyLengths = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final java.util.concurrent.ExecutorService threads = Executors.newCachedThreadPool();

        SlowApp() throws Exception {
            server = new java.net.ServerSocket();
            server.setReceiveBufferSize(16 * 1024); // inherited by accepted sockets: the gateway's queue fills early
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            threads.execute(() -> {
                try {
                    while (true) {
                        java.net.Socket c = server.accept();
                        threads.execute(() -> serve(c));
                    }
                } catch (java.io.IOException closed) {
                    // test over
                }
            });
        }

        int port() {
            return server.getLocalPort();
        }

        List<Long> bodyLengths() {
            return bodyLengths;
        }

        private void serve(java.net.Socket c) {
            try (c) {
                InputStream in = new java.io.BufferedInputStream(new Throttled(c.getInputStream()), 4096);
                for (String head; (head = readHead(in)) != null; ) {
                    long length = 0;
                    if (head.toLowerCase(java.util.Locale.ROOT).contains("transfer-encoding: chunked")) {
                        for (long size; (size = Long.parseLong(readLine(in).strip(), 16)) > 0; ) {
                            in.skipNBytes(size);
                            length += size;
                            readLine(in);
                        }
                        readLine(in); // the empty trailer section
                    }
                    bodyLengths.add(length);
                    byte[] body = Long.toString(length).getBytes(StandardCharsets.ISO_8859_1);
                    c.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
                    c.getOutputStream().write(body);
                    c.getOutputStream().flush();
                }
            } catch (Exception e) {
                // the gateway closed the connection
            }
        }

        private static String readHead(InputStream in) throws java.io.IOException {
            StringBuilder head = new StringBuilder();
            for (String line; (line = readLine(in)) != null && !line.isEmpty(); ) {
                head.append(line).append('\n');
            }
            return head.length() == 0 ? null : head.toString();
        }

        private static String readLine(InputStream in) throws java.io.IOException {
            StringBuilder line = new StringBuilder();
            for (int b; (b = in.read()) != '\n'; ) {
                if (b < 0) {
                    return null;
                }
                if (b != '\r') {
                    line.append((char) b);
                }
            }
            return line.toString();
        }

        @Override
        public void close() throws Exception {
            server.close();
            threads.shutdownNow();
        }
    }

    /** Reads at most 16 KiB every 2 ms. */
    private static final class Throttled extends java.io.FilterInputStream {
        Throttled(InputStream in) {
            super(in);
        }

        @Override
        public int read(byte[] b, int off, int len) throws java.io.IOException {
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
            }
            return super.read(b, off, Math.min(len, 16 * 1024));
        }
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
