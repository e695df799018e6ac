package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.LinuxAccounts;
import dev.enclave.gateway.auth.PamCheck;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway with Linux accounts through PAM, end to end: real TLS, the JDK HTTP client with
 * Basic credentials, real pam_unix against throwaway accounts. Needs root (skips otherwise).
 */
class PamGatewayTest {
    private static final String PASS = "correct horse battery staple";
    @TempDir
    Path state;
    private LinuxAccounts accounts;
    private HttpServer app;
    private GatewayServer gateway;
    private AuditLog audit;
    private final AtomicInteger appRequests = new AtomicInteger();
    private final AtomicReference<String> seen = new AtomicReference<>();

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
        if (app != null) {
            app.stop(0);
        }
        if (audit != null) {
            audit.close();
        }
        if (accounts != null) {
            accounts.close();
        }
    }

    @Test
    void groupMembersLogInWithTheirLinuxPasswordAndOthersDoNot() throws Exception {
        accounts = LinuxAccounts.create();
        String group = accounts.group("g");
        String member = accounts.user("m", PASS, group);
        String outsider = accounts.user("o", PASS);
        app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        app.createContext("/", ex -> {
            appRequests.incrementAndGet();
            seen.set("user=" + ex.getRequestHeaders().getFirst("X-Forwarded-User") + " auth=" + ex.getRequestHeaders().getFirst("Authorization"));
            byte[] body = "hello from the app".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.start();
        audit = AuditLog.open(state.resolve("audit.log"));
        gateway = new GatewayServer(new GatewaySettings(new InetSocketAddress("127.0.0.1", 0), null,
                URI.create("http://127.0.0.1:" + app.getAddress().getPort()), state.resolve("users-not-used"), state, null, null,
                List.of("gw.test"), 16 * 1024, Duration.ofSeconds(30), 5, Duration.ofMinutes(10), Duration.ofHours(1),
                new PamCheck.Options(accounts.service(), group, false)), audit);
        InetSocketAddress address = gateway.start();
        HttpClient client = HttpClient.newBuilder().sslContext(GatewayTrust.context(state))
                .connectTimeout(Duration.ofSeconds(5)).build();
        URI url = URI.create("https://127.0.0.1:" + address.getPort() + "/v1/thing");

        HttpResponse<String> ok = client.send(HttpRequest.newBuilder(url).header("Authorization", basic(member, PASS)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(ok.statusCode()).isEqualTo(200);
        assertThat(ok.body()).isEqualTo("hello from the app");
        assertThat(seen.get()).isEqualTo("user=" + member + " auth=null");

        HttpResponse<String> outside = client.send(HttpRequest.newBuilder(url).header("Authorization", basic(outsider, PASS)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(outside.statusCode()).as("right password, wrong group").isEqualTo(401);
        assertThat(outside.headers().firstValue("WWW-Authenticate")).contains("Basic realm=\"Enclave\", charset=\"UTF-8\"");

        HttpResponse<String> wrong = client.send(HttpRequest.newBuilder(url).header("Authorization", basic(member, "not " + PASS)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(appRequests.get()).as("only the accepted request reached the app").isEqualTo(1);

        audit.flush();
        String lines = Files.readString(state.resolve("audit.log"));
        assertThat(lines).contains("\"event\":\"login_refused\"", "\"reason\":\"not_in_group " + group + "\"")
                .contains("\"event\":\"login\"", "\"result\":\"failure\"").doesNotContain(PASS);
    }

    private static String basic(String user, String pass) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8));
    }
}
