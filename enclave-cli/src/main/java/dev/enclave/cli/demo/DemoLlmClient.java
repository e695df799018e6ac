package dev.enclave.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The demo app's LLM client: asks the relay ({@code OPENAI_BASE_URL}, placeholder key) for a
 * streamed chat completion and hands out the answer's pieces of text as the relay's server-sent
 * events arrive. The relay is called directly, never through the egress proxy.
 */
final class DemoLlmClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_ERROR_BODY = 16 * 1024;

    private final URI baseUrl;
    private final String key;
    private final String model;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .proxy(HttpClient.Builder.NO_PROXY).connectTimeout(Duration.ofSeconds(10)).build();

    /** @param baseUrl the relay's OpenAI-style base, e.g. {@code http://10.77.1.1:4000/v1} */
    DemoLlmClient(URI baseUrl, String key, String model) {
        this.baseUrl = baseUrl;
        this.key = key;
        this.model = model;
    }

    String relay() {
        return baseUrl.toString();
    }

    /**
     * Sends {@code prompt}; returns once the relay answered 200 with the stream still open.
     *
     * @throws Refused the relay (or the API behind it) answered something else; its message says why
     * @throws IOException the relay cannot be reached
     */
    Answer ask(String prompt) throws IOException, InterruptedException {
        ObjectNode request = JSON.createObjectNode();
        request.put("model", model);
        request.put("stream", true);
        ObjectNode message = request.putArray("messages").addObject();
        message.put("role", "user");
        message.put("content", prompt);
        URI uri = URI.create(baseUrl.toString().replaceAll("/+$", "") + "/chat/completions");
        HttpResponse<InputStream> response = http.send(HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(60)) // until the answer's head: a model may think a while
                        .header("Authorization", "Bearer " + key)
                        .header("Content-Type", "application/json")
                        .header("Accept", "text/event-stream")
                        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(request))).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        if (response.statusCode() != 200) {
            String body;
            try (InputStream in = response.body()) {
                body = new String(in.readNBytes(MAX_ERROR_BODY), StandardCharsets.UTF_8);
            }
            throw new Refused("the relay answered " + response.statusCode() + ": " + errorText(body));
        }
        return new Answer(response.body());
    }

    /**
     * The relay's own refusals are one line of text ({@code enclave relay: over the ... budget});
     * the API's are JSON with {@code error.message}. Either way: the text a person should read.
     */
    static String errorText(String body) {
        try {
            JsonNode message = JSON.readTree(body).path("error").path("message");
            if (message.isTextual()) {
                return message.asText();
            }
        } catch (IOException notJson) {
            // the relay's plain-text refusal
        }
        String text = body.strip();
        return text.isEmpty() ? "(no message)" : text;
    }

    /** The relay refused the call or the API reported an error; the message is the one to show. */
    static final class Refused extends IOException {
        Refused(String message) {
            super(message);
        }
    }

    /** A streamed answer: its pieces of text in order. Closing it hangs up on the relay. */
    static final class Answer implements AutoCloseable {
        private final InputStream body;
        private final BufferedReader lines;

        private Answer(InputStream body) {
            this.body = body;
            this.lines = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8));
        }

        /**
         * The next non-empty piece of text, blocking until the relay sends it; null at the end
         * ({@code data: [DONE]} or the end of the body).
         *
         * @throws Refused the stream carried an error event
         */
        String next() throws IOException {
            String line;
            while ((line = lines.readLine()) != null) {
                if (!line.startsWith("data:")) {
                    continue; // event names, ids, comments, the blank line between events
                }
                String data = line.substring(5).strip();
                if (data.equals("[DONE]")) {
                    return null;
                }
                JsonNode event = JSON.readTree(data);
                if (event.has("error")) {
                    throw new Refused("the LLM API reported an error: " + errorText(data));
                }
                JsonNode delta = event.path("choices").path(0).path("delta").path("content");
                if (delta.isTextual() && !delta.asText().isEmpty()) {
                    return delta.asText();
                }
            }
            return null;
        }

        /** Hangs up on the relay; safe from any thread, also while {@link #next()} waits, and more than once. */
        @Override
        public void close() {
            try {
                body.close();
            } catch (IOException e) {
                // closing the JDK client's body stream does not fail; nothing to do if it did
            }
        }
    }
}
