package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.Base64;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The demo page's WebSocket to {@code /ask} as the JDK client opens it through the gateway: Basic
 * credentials, an {@code Origin}, trusting exactly the gateway's self-signed certificate in
 * {@code STATE/tls}. Collects whole text messages.
 */
final class DemoSocket implements WebSocket.Listener {
    private final BlockingQueue<String> messages = new LinkedBlockingQueue<>();
    private final StringBuilder partial = new StringBuilder();
    private WebSocket socket;

    private DemoSocket() {
    }

    /** Opens {@code wss://127.0.0.1:PORT/ask} as {@code user:password} from a page of {@code origin}. */
    static DemoSocket open(Path state, int port, String login, String origin) throws Exception {
        DemoSocket s = new DemoSocket();
        s.socket = builder(state, login, origin).buildAsync(uri(port), s).get(30, TimeUnit.SECONDS);
        return s;
    }

    /** The status the handshake was refused with (the test fails if it was not refused). */
    static int refusal(Path state, int port, String login, String origin) throws Exception {
        try {
            WebSocket ws = builder(state, login, origin).buildAsync(uri(port), new WebSocket.Listener() { }).get(30, TimeUnit.SECONDS);
            ws.abort();
            throw new AssertionError("a WebSocket from " + origin + " was let in");
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(WebSocketHandshakeException.class);
            return ((WebSocketHandshakeException) e.getCause()).getResponse().statusCode();
        }
    }

    void send(String text) throws Exception {
        socket.sendText(text, true).get(10, TimeUnit.SECONDS);
    }

    /** The next whole message; 30 s is a bound on a busy machine, not a speed check. */
    String next() throws InterruptedException {
        String m = messages.poll(30, TimeUnit.SECONDS);
        assertThat(m).as("a message within 30 s").isNotNull();
        return m;
    }

    void close() throws Exception {
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(10, TimeUnit.SECONDS);
    }

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
        partial.append(data);
        if (last) {
            messages.add(partial.toString());
            partial.setLength(0);
        }
        ws.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
        messages.add("closed " + status + " " + reason);
        return null;
    }

    private static URI uri(int port) {
        return URI.create("wss://127.0.0.1:" + port + "/ask");
    }

    private static WebSocket.Builder builder(Path state, String login, String origin) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(state.resolve("tls/cert.pem"))) {
            trust.setCertificateEntry("gateway", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, tmf.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(tls).build().newWebSocketBuilder()
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(login.getBytes(StandardCharsets.UTF_8)))
                .header("Origin", origin);
    }
}
