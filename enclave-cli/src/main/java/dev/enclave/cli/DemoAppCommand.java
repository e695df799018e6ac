package dev.enclave.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.enclave.config.ConfigValues;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave demo-app} (hidden): the app {@code enclave up} runs in the namespace when
 * {@code app.command} is not set, so a newcomer sees the whole path work. One page with two boxes:
 * a prompt whose answer comes from the LLM through the relay ({@code OPENAI_BASE_URL}, placeholder
 * key), streamed to the page as server-sent events; and a URL that is fetched through the egress
 * proxy ({@code HTTPS_PROXY}), showing the proxy's answer, normally its refusal and the reason.
 * It knows only what its environment tells it, as any app would.
 */
@Command(name = "demo-app", hidden = true, description = "The built-in demo app (run by 'enclave up' inside the app namespace).")
final class DemoAppCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_INPUT = 16 * 1024;

    @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "Where to serve the page (default 10.77.1.2:3000).")
    String listen = "10.77.1.2:3000";

    @Option(names = "--model", paramLabel = "NAME", description = "Model to ask (default gpt-4o-mini).")
    String model = "gpt-4o-mini";

    @Override
    public Integer call() throws Exception {
        InetSocketAddress at = ConfigValues.socketAddress(listen);
        HttpServer server = HttpServer.create(at, 64);
        server.createContext("/", this::page);
        server.createContext("/app.js", ex -> send(ex, 200, "text/javascript; charset=utf-8", DemoPage.SCRIPT));
        server.createContext("/ask", this::ask);
        server.createContext("/reach", this::reach);
        server.setExecutor(Executors.newFixedThreadPool(8, r -> {
            Thread t = new Thread(r, "demo-app");
            t.setDaemon(true);
            return t;
        }));
        server.start();
        System.err.println("enclave demo-app: listening on http://" + listen + "; LLM at " + env("OPENAI_BASE_URL")
                + ", proxy " + env("HTTPS_PROXY"));
        new CountDownLatch(1).await();
        return ExitCodes.OK;
    }

    private void page(HttpExchange ex) throws IOException {
        if (!ex.getRequestURI().getPath().equals("/")) {
            send(ex, 404, "text/plain; charset=utf-8", "not found\n");
            return;
        }
        send(ex, 200, "text/html; charset=utf-8", DemoPage.HTML);
    }

    /** POST /ask, the prompt as the body: the LLM's answer as server-sent events, one per piece of text. */
    private void ask(HttpExchange ex) throws IOException {
        String prompt = postBody(ex);
        if (prompt == null) {
            return;
        }
        ObjectNode request = JSON.createObjectNode();
        request.put("model", model);
        request.put("stream", true);
        ObjectNode message = request.putArray("messages").addObject();
        message.put("role", "user");
        message.put("content", prompt);
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            try {
                HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                        .connectTimeout(Duration.ofSeconds(10)).build(); // no proxy: the relay is called directly
                HttpResponse<InputStream> answer = client.send(HttpRequest.newBuilder(URI.create(env("OPENAI_BASE_URL") + "/chat/completions"))
                        .header("Authorization", "Bearer " + env("OPENAI_API_KEY"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(request))).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                if (answer.statusCode() != 200) {
                    String body = new String(answer.body().readNBytes(MAX_INPUT), StandardCharsets.UTF_8);
                    event(out, "error", "the relay answered " + answer.statusCode() + ": " + body.strip());
                    return;
                }
                try (BufferedReader lines = new BufferedReader(new InputStreamReader(answer.body(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = lines.readLine()) != null) {
                        if (!line.startsWith("data:")) {
                            continue;
                        }
                        String data = line.substring(5).strip();
                        if (data.equals("[DONE]")) {
                            break;
                        }
                        JsonNode delta = JSON.readTree(data).path("choices").path(0).path("delta").path("content");
                        if (delta.isTextual() && !delta.asText().isEmpty()) {
                            event(out, "text", delta.asText());
                        }
                    }
                }
                event(out, "done", "");
            } catch (IOException | InterruptedException e) {
                event(out, "error", "cannot reach the LLM relay at " + env("OPENAI_BASE_URL") + ": " + e);
            }
        }
    }

    /** POST /reach, a URL as the body: what the egress proxy says to it (CONNECT for https, a proxied GET for http). */
    private void reach(HttpExchange ex) throws IOException {
        String text = postBody(ex);
        if (text == null) {
            return;
        }
        URI url;
        try {
            url = URI.create(text.strip());
        } catch (IllegalArgumentException e) {
            send(ex, 200, "text/plain; charset=utf-8", "not a URL: " + e.getMessage());
            return;
        }
        if (url.getHost() == null || !("https".equals(url.getScheme()) || "http".equals(url.getScheme()))) {
            send(ex, 200, "text/plain; charset=utf-8", "give an http:// or https:// URL, e.g. https://example.com/");
            return;
        }
        URI proxy = URI.create(env("HTTPS_PROXY"));
        boolean tls = url.getScheme().equals("https");
        int port = url.getPort() != -1 ? url.getPort() : tls ? 443 : 80;
        String target = url.getHost() + ":" + port;
        String head = tls ? "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
                : "GET " + url + " HTTP/1.1\r\nHost: " + target + "\r\nConnection: close\r\n\r\n";
        StringBuilder said = new StringBuilder();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(proxy.getHost(), proxy.getPort()), 5000);
            s.setSoTimeout(15_000);
            s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String status = in.readLine();
            said.append("egress proxy ").append(proxy.getHost()).append(':').append(proxy.getPort()).append(" answered: ").append(status).append('\n');
            String line;
            int length = 0;
            while ((line = in.readLine()) != null && !line.isEmpty()) {
                if (line.regionMatches(true, 0, "X-Enclave-Reason:", 0, 17)) {
                    said.append("reason: ").append(line.substring(17).strip()).append('\n');
                }
                if (line.regionMatches(true, 0, "Content-Length:", 0, 15)) {
                    length = Math.min(MAX_INPUT, Integer.parseInt(line.substring(15).strip()));
                }
            }
            if (status != null && status.contains(" 200") && tls) {
                said.append("the proxy opened a tunnel to ").append(target).append(" (it is on the allowlist)\n");
            } else if (length > 0) {
                char[] body = new char[length];
                int n = in.read(body, 0, length);
                said.append(new String(body, 0, Math.max(n, 0)).strip()).append('\n');
            }
        } catch (IOException | NumberFormatException e) {
            said.append("cannot talk to the egress proxy at ").append(proxy).append(": ").append(e.getMessage()).append('\n');
        }
        send(ex, 200, "text/plain; charset=utf-8", said.toString());
    }

    /** The body of a POST carrying the X-Demo header (a cross-site form cannot set it), or null after answering. */
    private static String postBody(HttpExchange ex) throws IOException {
        if (!ex.getRequestMethod().equals("POST") || !ex.getRequestHeaders().containsKey("X-Demo")) {
            send(ex, 405, "text/plain; charset=utf-8", "POST with an X-Demo header, from the page\n");
            return null;
        }
        byte[] body = ex.getRequestBody().readNBytes(MAX_INPUT + 1);
        if (body.length > MAX_INPUT) {
            send(ex, 413, "text/plain; charset=utf-8", "at most " + MAX_INPUT + " bytes\n");
            return null;
        }
        return new String(body, StandardCharsets.UTF_8);
    }

    private static void event(OutputStream out, String name, String data) throws IOException {
        StringBuilder e = new StringBuilder("event: ").append(name).append('\n');
        e.append("data: ").append(JSON.writeValueAsString(data)).append("\n\n");
        out.write(e.toString().getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static String env(String name) {
        String v = System.getenv(name);
        return v == null ? "" : v;
    }
}
