package dev.enclave.cli.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.egress.relay.RelayServer;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo app's WebSocket, driven by the JDK's WebSocket client as the page drives it, against a
 * real {@link RelayServer} in front of a {@link FakeLlmApi} over TLS: the answer arrives as one
 * message per streamed piece while the LLM is still streaming; the relay's refusals (budget 429,
 * no key 503) and an absent relay reach the page in words; a page that leaves hangs up on the
 * relay; a WebSocket opened by another site is refused.
 */
class DemoAppServerTest {
    private static final String KEY = "sk-demo-test-real-key-9e8d7c";
    private static final String PLACEHOLDER = "sk-placeholder-the-relay-adds-the-real-key";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private TestPki pki;
    private FakeLlmApi llm;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        pki = TestPki.forNames("api.llm.test");
        llm = new FakeLlmApi(pki, "127.0.0.1");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        llm.close();
    }

    @Test
    void theAnswerArrivesAsOneMessagePerPieceWhileTheLlmIsStillStreaming() throws Exception {
        DemoRelay relay = relay(() -> KEY, 0);
        InetSocketAddress app = demoApp(relay.baseUrl());
        llm.holdStreams(); // the fake sends "one", then waits for releaseStreams()
        Page page = Page.open(app);
        page.ask("say three words");

        assertThat(page.next()).isEqualTo(text("one"));
        assertThat(llm.streamOutcome()).as("the LLM's stream is still open").isNotDone();
        llm.releaseStreams();
        assertThat(page.next()).isEqualTo(text("two"));
        assertThat(page.next()).isEqualTo(text("three"));
        assertThat(page.next()).isEqualTo("{\"done\":true}");
        assertThat(llm.streamOutcome().get(10, TimeUnit.SECONDS)).isEqualTo("complete");

        // The app sent the placeholder; the relay put the real key in.
        FakeLlmApi.Seen call = llm.seen().get(llm.seen().size() - 1);
        assertThat(call.target()).isEqualTo("/v1/chat/completions");
        assertThat(call.header("authorization")).containsExactly("Bearer " + KEY);

        // The same socket takes the next prompt as soon as the answer is done, one at a time.
        llm.holdStreams();
        page.ask("again");
        assertThat(page.next()).isEqualTo(text("one"));
        page.ask("and meanwhile this");
        assertThat(error(page.next())).isEqualTo("one question at a time: wait for this answer to end");
        llm.releaseStreams();
        assertThat(List.of(page.next(), page.next(), page.next())).containsExactly(text("two"), text("three"), "{\"done\":true}");
        page.ask("and now this");
        assertThat(List.of(page.next(), page.next(), page.next(), page.next()))
                .containsExactly(text("one"), text("two"), text("three"), "{\"done\":true}");
        page.close();
    }

    @Test
    void theRelaysBudgetRefusalReachesThePageInTheRelaysWords() throws Exception {
        DemoRelay relay = relay(() -> KEY, 1); // one request a minute
        Page page = Page.open(demoApp(relay.baseUrl()));
        page.ask("first");
        assertThat(List.of(page.next(), page.next(), page.next(), page.next()))
                .containsExactly(text("one"), text("two"), text("three"), "{\"done\":true}");

        page.ask("second");
        assertThat(error(page.next())).startsWith("the relay answered 429: enclave relay: over this relay's request rate: 1 of 1 requests");
        page.close();
    }

    @Test
    void aRelayWithoutAKeySays503AndHowToFixIt() throws Exception {
        DemoRelay relay = relay(() -> null, 0);
        Page page = Page.open(demoApp(relay.baseUrl()));
        page.ask("hello");
        assertThat(error(page.next())).startsWith("the relay answered 503: enclave relay: the relay has no usable API key");
        assertThat(llm.requests()).isZero();
        page.close();
    }

    @Test
    void aRelayThatDoesNotAnswerIsNamed() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        URI nowhere = URI.create("http://127.0.0.1:" + closedPort + "/v1");
        Page page = Page.open(demoApp(nowhere));
        page.ask("hello");
        assertThat(error(page.next())).startsWith("cannot reach the LLM relay at " + nowhere + ": ").contains("Connect");
        page.close();
    }

    @Test
    void aPageThatLeavesMidAnswerHangsUpOnTheRelayAndTheLlm() throws Exception {
        DemoRelay relay = relay(() -> KEY, 0);
        InetSocketAddress app = demoApp(relay.baseUrl());
        llm.holdStreams(true); // once released, the fake keeps writing until a write fails
        Page page = Page.open(app);
        page.ask("a long story");
        assertThat(page.next()).isEqualTo(text("one"));

        page.abort();
        // The relay writes the call's audit line when its client (the demo app) hangs up, and
        // closes its upstream connection in the same step.
        JsonNode call = relay.awaitCall();
        assertThat(call.path("outcome").asText()).isEqualTo("client_closed");
        llm.releaseStreams();
        assertThat(llm.streamOutcome().get(10, TimeUnit.SECONDS)).isEqualTo("aborted");
    }

    @Test
    void aWebSocketFromAnotherSiteOrWithoutAnOriginIsRefused() throws Exception {
        InetSocketAddress app = demoApp(relay(() -> KEY, 0).baseUrl());
        URI ask = URI.create("ws://127.0.0.1:" + app.getPort() + "/ask");
        HttpClient client = HttpClient.newHttpClient();
        for (String origin : new String[] {"https://evil.example", "http://127.0.0.1:" + app.getPort() + ".evil.example", "null", null}) {
            WebSocket.Builder b = client.newWebSocketBuilder();
            if (origin != null) {
                b.header("Origin", origin);
            }
            assertThatThrownBy(() -> b.buildAsync(ask, new WebSocket.Listener() { }).get(10, TimeUnit.SECONDS))
                    .as("Origin %s", origin)
                    .isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(WebSocketHandshakeException.class)
                    .satisfies(e -> assertThat(((WebSocketHandshakeException) e).getResponse().statusCode()).isEqualTo(403));
        }
        assertThat(llm.requests()).isZero();
    }

    @Test
    void thePageAndItsScriptAreServedAndReachNeedsTheDemoHeader() throws Exception {
        InetSocketAddress app = demoApp(URI.create("http://127.0.0.1:9/v1"));
        HttpClient client = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + app.getPort();
        HttpResponse<String> page = client.send(HttpRequest.newBuilder(URI.create(base + "/")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.body()).contains("<title>Enclave demo app</title>", "id=\"prompt\"", "id=\"url\"");
        assertThat(page.headers().firstValue("Content-Security-Policy")).hasValue("default-src 'self'; frame-ancestors 'none'");
        HttpResponse<String> script = client.send(HttpRequest.newBuilder(URI.create(base + "/app.js")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(script.body()).contains("new WebSocket(").contains("/ask").doesNotContain("innerHTML");
        HttpResponse<String> noHeader = client.send(HttpRequest.newBuilder(URI.create(base + "/reach"))
                .POST(HttpRequest.BodyPublishers.ofString("https://example.com/")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(noHeader.statusCode()).as("a cross-site form cannot set X-Demo").isEqualTo(405);
        HttpResponse<String> noProxy = client.send(HttpRequest.newBuilder(URI.create(base + "/reach")).header("X-Demo", "1")
                .POST(HttpRequest.BodyPublishers.ofString("https://example.com/")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(noProxy.body()).startsWith("no egress proxy: HTTPS_PROXY is not set");
        HttpResponse<String> missing = client.send(HttpRequest.newBuilder(URI.create(base + "/ask?x")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(missing.statusCode()).isEqualTo(403);
    }

    private static String text(String piece) {
        return "{\"text\":\"" + piece + "\"}";
    }

    private static String error(String message) throws IOException {
        JsonNode m = JSON.readTree(message);
        assertThat(m.has("error")).as(message).isTrue();
        return m.path("error").asText();
    }

    private InetSocketAddress demoApp(URI relay) throws InterruptedException {
        DemoAppServer app = new DemoAppServer(new DemoAppServer.Settings(new InetSocketAddress("127.0.0.1", 0), relay,
                PLACEHOLDER, "gpt-test", null));
        closing.add(app);
        return app.start();
    }

    private DemoRelay relay(Supplier<String> key, int requestsPerMinute) throws Exception {
        DemoRelay relay = new DemoRelay(llm, pki, dir, key, requestsPerMinute);
        closing.add(relay);
        return relay;
    }

    /** What the page does: one WebSocket to /ask with this origin, prompts out, whole messages in. */
    private static final class Page implements WebSocket.Listener {
        private final BlockingQueue<String> messages = new LinkedBlockingQueue<>();
        private final StringBuilder partial = new StringBuilder();
        private WebSocket socket;

        static Page open(InetSocketAddress app) throws Exception {
            Page p = new Page();
            String origin = "http://127.0.0.1:" + app.getPort();
            p.socket = HttpClient.newHttpClient().newWebSocketBuilder().header("Origin", origin)
                    .buildAsync(URI.create("ws://127.0.0.1:" + app.getPort() + "/ask"), p).get(10, TimeUnit.SECONDS);
            return p;
        }

        void ask(String prompt) throws Exception {
            socket.sendText(prompt, true).get(10, TimeUnit.SECONDS);
        }

        /** The next whole message; a bound of 20 s on a busy machine, not a speed check. */
        String next() throws InterruptedException {
            String m = messages.poll(20, TimeUnit.SECONDS);
            assertThat(m).as("a message within 20 s").isNotNull();
            return m;
        }

        void abort() {
            socket.abort();
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
    }
}
