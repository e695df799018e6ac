package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserStore;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the gateway lets through between client and app, against an app written byte by byte:
 * responses the client could not delimit, headers and methods the app must not trust, cookies that
 * are the gateway's, what the access audit line records.
 */
class ProxyHygieneTest {
    private static final String PASS = "a long passphrase";
    @TempDir
    Path state;
    private ServerSocket app;
    private final ExecutorService appThreads = Executors.newCachedThreadPool();
    /** Every request head the app received, in order. */
    private final List<String> appHeads = new CopyOnWriteArrayList<>();
    private GatewayServer gateway;
    private AuditLog audit;
    private int port;
    private String auth;

    @BeforeEach
    void start() throws Exception {
        app = new ServerSocket(0, 16, java.net.InetAddress.getLoopbackAddress());
        appThreads.execute(() -> {
            try {
                while (true) {
                    Socket c = app.accept();
                    appThreads.execute(() -> serve(c));
                }
            } catch (IOException closed) {
                // test over
            }
        });
        UserStore.update(state.resolve("users"), s -> s.with("alice", new PasswordHasher().hash(PASS.toCharArray())));
        auth = "Authorization: Basic " + Base64.getEncoder().encodeToString(("alice:" + PASS).getBytes(StandardCharsets.UTF_8)) + "\r\n";
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.getLocalPort()), state.resolve("users"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 5, Duration.ofMinutes(10), Duration.ofHours(1)), audit);
        port = gateway.start().getPort();
    }

    @AfterEach
    void stop() throws Exception {
        gateway.close();
        app.close();
        appThreads.shutdownNow();
        audit.close();
    }

    /** The app: bodiless requests; {@code /unframed} answers with a body that ends at the close, {@code /cookies} sets cookies. */
    private void serve(Socket c) {
        try (c) {
            InputStream in = c.getInputStream();
            OutputStream out = c.getOutputStream();
            for (String head; (head = readHead(in)) != null; ) {
                appHeads.add(head);
                if (head.startsWith("GET /unframed ")) {
                    out.write("HTTP/1.1 200 OK\r\n\r\nbody".getBytes(StandardCharsets.ISO_8859_1));
                    out.flush();
                    return;
                }
                String cookies = !head.startsWith("GET /cookies ") ? ""
                        : "Set-Cookie: " + GatewayCookies.SESSION + "=planted; Path=/; Secure\r\nSet-Cookie: app=1; Path=/\r\n"
                        + "Set-Cookie: __host-ENCLAVE_csrf=planted; Path=/; Secure\r\n";
                out.write(("HTTP/1.1 200 OK\r\n" + cookies + "Content-Length: 2\r\n\r\nok").getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
            }
        } catch (IOException e) {
            // the gateway closed the connection
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            head.write(b);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    /** Writes {@code requests} in one go, then reads until the gateway closes. */
    private String exchange(String requests) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try (SSLSocket s = GatewayTrust.socket(state, port, 10_000)) {
            s.getOutputStream().write(requests.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            s.getInputStream().transferTo(got);
        } catch (SocketException reset) {
            // closed by the gateway with requests unread: what arrived counts
        }
        return got.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void aResponseThatEndsAtTheAppsCloseEndsTheClientConnectionToo() throws Exception {
        String got = exchange("GET /unframed HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n"
                + "GET /second HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n");
        assertThat(got).startsWith("HTTP/1.1 200").containsIgnoringCase("\r\nconnection: close\r\n").endsWith("\r\n\r\nbody");
        assertThat(got.split("HTTP/1\\.1 ", -1)).as("one response, then the close").hasSize(2);
        assertThat(appHeads).hasSize(1);
    }

    @Test
    void headersTheAppCouldMistakeForTheGatewaysNeverReachIt() throws Exception {
        String got = exchange("GET /h HTTP/1.1\r\nHost: gw\r\n" + auth
                + "X_Forwarded_User: admin\r\nX-Remote-User: admin\r\nRemote-User: admin\r\nX-Forwarded-Server: evil\r\n"
                + "X-Forwarded-Prefix: /evil\r\nX-Forwarded-Port: 1\r\nX-App-Header: kept\r\nConnection: close\r\n\r\n");
        assertThat(got).startsWith("HTTP/1.1 200");
        String head = appHeads.get(0).toLowerCase(java.util.Locale.ROOT);
        assertThat(head).contains("\r\nx-app-header: kept\r\n").contains("\r\nx-forwarded-user: alice\r\n")
                .doesNotContain("x_forwarded_user").doesNotContain("remote-user").doesNotContain("x-forwarded-server")
                .doesNotContain("x-forwarded-prefix").doesNotContain("x-forwarded-port").doesNotContain("admin")
                .doesNotContain("evil");
    }

    @Test
    void connectAndTraceAreRefusedWith405BeforeTheApp() throws Exception {
        for (String line : List.of("CONNECT gw:443 HTTP/1.1", "TRACE / HTTP/1.1")) {
            String got = exchange(line + "\r\nHost: gw\r\n" + auth + "\r\n");
            assertThat(got).as(line).startsWith("HTTP/1.1 405").containsIgnoringCase("\r\nallow: ");
        }
        assertThat(appHeads).isEmpty();
    }

    @Test
    void theAccessAuditLineHasThePathButNotTheQueryString() throws Exception {
        exchange("GET /v1/files?token=s3cret-in-query HTTP/1.1\r\nHost: gw\r\n" + auth + "Connection: close\r\n\r\n");
        exchange("GET /v1/plain HTTP/1.1\r\nHost: gw\r\n" + auth + "Connection: close\r\n\r\n");
        audit.flush();
        String log = java.nio.file.Files.readString(state.resolve("audit.log"));
        assertThat(appHeads.get(0)).startsWith("GET /v1/files?token=s3cret-in-query "); // the app still gets it
        assertThat(log).doesNotContain("s3cret").contains("\"path\":\"/v1/files\"").contains("\"query\":true")
                .contains("\"path\":\"/v1/plain\"").contains("\"query\":false");
    }

    @Test
    void theAppCannotSetTheGatewaysCookies() throws Exception {
        String got = exchange("GET /cookies HTTP/1.1\r\nHost: gw\r\n" + auth + "Connection: close\r\n\r\n");
        assertThat(got).startsWith("HTTP/1.1 200").contains("\r\nset-cookie: app=1; Path=/\r\n").doesNotContain("planted");
    }
}
