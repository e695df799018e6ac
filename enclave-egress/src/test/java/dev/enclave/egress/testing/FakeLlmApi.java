package dev.enclave.egress.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OpenAI-compatible API over real TLS on loopback: {@code GET /v1/models},
 * {@code POST /v1/chat/completions} (a JSON answer, or server-sent events when the body asks for
 * {@code "stream":true}), and a 200 JSON echo for the Anthropic ({@code /v1/messages}) and Azure
 * ({@code /openai/...}) paths, {@code GET /v1/big} (64 MiB of zeros, counting what it has written);
 * anything else is 404. Records every request it receives (method,
 * target with query, headers, the client's port) and counts them.
 *
 * <p>Streams can be held: with {@link #holdStreams()}, a stream sends its first event and then
 * waits for {@link #releaseStreams()} before the rest, so a test can prove the first event reached
 * its client while the stream was still open. {@link #streamOutcome()} says how the stream ended:
 * {@code "complete"}, or {@code "aborted"} when its client (the relay) closed the connection.
 */
public final class FakeLlmApi implements AutoCloseable {
    public static final String REPLY = "hello from the fake llm";
    /** The events of a streamed answer, in order; the last is followed by {@code data: [DONE]}. */
    public static final List<String> STREAM_WORDS = List.of("one", "two", "three");
    /** Usage of a non-streamed chat completion. */
    public static final int PROMPT_TOKENS = 3;
    public static final int COMPLETION_TOKENS = 5;
    /** Usage in the last chunk of a streamed one, sent when the request asks {@code stream_options.include_usage}. */
    public static final int STREAM_PROMPT_TOKENS = 7;
    public static final int STREAM_COMPLETION_TOKENS = 3;

    private final HttpsServer server;
    /** Size of the {@code GET /v1/big} answer. */
    public static final long BIG_BYTES = 64L * 1024 * 1024;
    private final AtomicInteger requests = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong bigWritten = new java.util.concurrent.atomic.AtomicLong();
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private volatile CountDownLatch hold;
    private volatile boolean writeUntilCancelled;
    private volatile CompletableFuture<String> streamOutcome = new CompletableFuture<>();

    /** One request as it arrived. Header names are lower case. */
    public record Seen(String method, String target, Map<String, List<String>> headers, int clientPort) {
        /** The values of header {@code name} (any case); empty when absent. */
        public List<String> header(String name) {
            return headers.getOrDefault(name.toLowerCase(Locale.ROOT), List.of());
        }
    }

    public FakeLlmApi(TestPki pki, String bindAddress) throws IOException {
        server = HttpsServer.create(new InetSocketAddress(bindAddress, 0), 64);
        server.setHttpsConfigurator(new HttpsConfigurator(pki.serverContext()));
        server.createContext("/v1/models", ex -> reply(ex, 200,
                "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-test\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"enclave\"}]}"));
        server.createContext("/v1/chat/completions", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String compact = body.replace(" ", "");
            if (compact.contains("\"stream\":true")) {
                stream(ex, compact.contains("\"include_usage\":true"));
                return;
            }
            reply(ex, 200, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
                    + "\"model\":\"gpt-test\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                    + REPLY + "\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT_TOKENS + ",\"completion_tokens\":" + COMPLETION_TOKENS
                    + ",\"total_tokens\":" + (PROMPT_TOKENS + COMPLETION_TOKENS) + "}}");
        });
        server.createContext("/v1/big", ex -> {
            record(ex);
            ex.getResponseHeaders().set("Content-Type", "application/octet-stream");
            ex.sendResponseHeaders(200, BIG_BYTES);
            byte[] block = new byte[16 * 1024];
            try (OutputStream out = ex.getResponseBody()) {
                for (long sent = 0; sent < BIG_BYTES; sent += block.length) {
                    out.write(block);
                    bigWritten.addAndGet(block.length);
                }
            } catch (IOException e) {
                ex.close();
            }
        });
        server.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            String path = ex.getRequestURI().getRawPath();
            if (path.startsWith("/v1/messages") || path.startsWith("/openai/")) {
                reply(ex, 200, "{\"ok\":true}");
            } else {
                reply(ex, 404, "{\"error\":\"not found\"}");
            }
        });
        server.setExecutor(Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "fake-llm");
            t.setDaemon(true);
            return t;
        }));
        server.start();
    }

    private void record(HttpExchange ex) {
        requests.incrementAndGet();
        Map<String, List<String>> headers = new TreeMap<>();
        ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), List.copyOf(v)));
        seen.add(new Seen(ex.getRequestMethod(), ex.getRequestURI().toString(), headers, ex.getRemoteAddress().getPort()));
    }

    private void reply(HttpExchange ex, int status, String json) throws IOException {
        record(ex);
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private void stream(HttpExchange ex, boolean includeUsage) throws IOException {
        record(ex);
        CompletableFuture<String> outcome = streamOutcome;
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.sendResponseHeaders(200, 0); // chunked
        OutputStream out = ex.getResponseBody();
        try {
            event(out, STREAM_WORDS.get(0));
            CountDownLatch h = hold;
            if (h != null && !h.await(30, TimeUnit.SECONDS)) {
                throw new IOException("the test never released the stream");
            }
            for (String w : STREAM_WORDS.subList(1, STREAM_WORDS.size())) {
                event(out, w);
            }
            if (h != null && writeUntilCancelled) {
                // Keep writing after a release: a client that left (and the relay with it) makes a
                // write fail, which is how this fake learns the stream was cancelled.
                for (int i = 0; i < 200; i++) {
                    event(out, "more");
                    Thread.sleep(10);
                }
            }
            if (includeUsage) {
                // As OpenAI sends it with stream_options.include_usage: a last chunk with no choices.
                out.write(("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + STREAM_PROMPT_TOKENS
                        + ",\"completion_tokens\":" + STREAM_COMPLETION_TOKENS + ",\"total_tokens\":"
                        + (STREAM_PROMPT_TOKENS + STREAM_COMPLETION_TOKENS) + "}}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.close();
            outcome.complete("complete");
        } catch (IOException | InterruptedException e) {
            outcome.complete("aborted");
            ex.close();
        }
    }

    private static void event(OutputStream out, String word) throws IOException {
        out.write(("data: {\"choices\":[{\"delta\":{\"content\":\"" + word + "\"}}]}\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** From now on a stream pauses after its first event until {@link #releaseStreams()}. */
    public void holdStreams() {
        holdStreams(false);
    }

    /**
     * Like {@link #holdStreams()}; with {@code writeUntilCancelled}, a released stream keeps sending
     * events (every 10 ms, for up to 2 s) so that a cancelled connection shows up as a failed write.
     */
    public void holdStreams(boolean writeUntilCancelled) {
        this.writeUntilCancelled = writeUntilCancelled;
        hold = new CountDownLatch(1);
        streamOutcome = new CompletableFuture<>();
    }

    public void releaseStreams() {
        CountDownLatch h = hold;
        if (h != null) {
            h.countDown();
        }
    }

    /** Completes with "complete" or "aborted" when the stream started since {@link #holdStreams()} ends. */
    public CompletableFuture<String> streamOutcome() {
        return streamOutcome;
    }

    /** Bytes of {@code GET /v1/big} answers written so far (a blocked write counts once it returns). */
    public long bigWritten() {
        return bigWritten.get();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    public int requests() {
        return requests.get();
    }

    /** Every request received so far, in order of arrival. */
    public List<Seen> seen() {
        return new ArrayList<>(seen);
    }

    @Override
    public void close() {
        releaseStreams();
        server.stop(0);
    }
}
