package dev.enclave.lab.internet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.enclave.lab.LabAddresses;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLContext;

/**
 * The lab's internet, run inside {@code enclave-net} on the addresses of {@link LabAddresses}:
 * <ul>
 *   <li>api.openai.com (HTTPS): an OpenAI-compatible API ({@code GET /v1/models},
 *       {@code POST /v1/chat/completions}, streamed as server-sent events when the body asks for
 *       {@code "stream": true}) that records every call and the key it carried to llm-calls.log;
 *       another site, drop.attacker.example, answers on the same address by Host header;</li>
 *   <li>google.com, github.com, example.com over HTTP and HTTPS;</li>
 *   <li>the instance-metadata service at 169.254.169.254 (HTTP, IMDSv1-style, with a fake role's credentials);</li>
 *   <li>the resolver at 10.0.0.2 ({@link LabDns}, logging every query) and pool.ntp.org ({@link LabNtp});</li>
 *   <li>8.8.8.8, which answers ping from the kernel (an address on enclave-net's loopback).</li>
 * </ul>
 * Certificates come from the lab CA ({@link LabCa}). Runs until killed; writes {@code internet/ready}
 * once every server listens.
 */
public final class FakeInternet implements AutoCloseable {
    /** What the fake metadata service hands out: fake, but shaped like the real thing. */
    public static final String METADATA_SECRET = "lab-metadata-secret-access-key";
    public static final String NEIGHBOUR_PAGE = "the neighbour site on the LLM API's address";
    public static final String MODEL = "gpt-lab";
    public static final String REPLY = "hello from the lab's fake LLM API";

    private static final ObjectMapper JSON = new ObjectMapper();
    private final List<HttpServer> servers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<AutoCloseable> udp = new ArrayList<>();
    private final ExecutorService pool = Executors.newFixedThreadPool(8, r -> {
        Thread t = new Thread(r, "lab-internet");
        t.setDaemon(true);
        return t;
    });
    private final Writer llmLog;
    private final Writer dnsLog;
    private LabDns dns;
    /** True once the API moved to {@link LabAddresses#LLM_API_MOVED}: its old address then serves only the neighbour site. */
    private volatile boolean apiMoved;
    private SSLContext tls;
    /** The servers on the API's two addresses, by address. */
    private final Map<String, HttpsServer> apiServers = new java.util.concurrent.ConcurrentHashMap<>();

    private FakeInternet(Path dir) throws IOException {
        Path records = dir.resolve("internet");
        Files.createDirectories(records);
        llmLog = Files.newBufferedWriter(records.resolve("llm-calls.log"), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        dnsLog = Files.newBufferedWriter(records.resolve("dns-queries.log"), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Starts every server of the lab's internet, with certificates from {@code dir/pki/internet.p12}. */
    public static FakeInternet start(Path dir) throws IOException {
        FakeInternet internet = new FakeInternet(dir);
        try {
            SSLContext tls = LabCa.serverContext(dir.resolve("pki").resolve("internet.p12"));
            internet.tls = tls;
            for (String address : List.of(LabAddresses.LLM_API, LabAddresses.LLM_API_MOVED)) {
                internet.apiServer(address);
            }
            HttpServer control = HttpServer.create(new InetSocketAddress("127.0.0.1", LabAddresses.CONTROL_PORT), 8);
            control.setExecutor(internet.pool);
            control.createContext("/move-api", ex -> internet.moveApi(ex, true));
            control.createContext("/restore-api", ex -> internet.moveApi(ex, false));
            control.start();
            internet.servers.add(control);
            for (String[] site : new String[][] {{LabAddresses.GOOGLE, "google.com"}, {LabAddresses.GITHUB, "github.com"},
                    {LabAddresses.EXAMPLE, "example.com"}}) {
                internet.http(site[0]).createContext("/", ex -> page(ex, site[1]));
                internet.https(site[0], tls).createContext("/", ex -> page(ex, site[1]));
            }
            internet.http(LabAddresses.METADATA).createContext("/", FakeInternet::metadata);
            internet.dns = new LabDns(new InetSocketAddress(LabAddresses.RESOLVER, 53), LabAddresses.names(), internet.dnsLog);
            internet.udp.add(internet.dns);
            internet.udp.add(new LabNtp(new InetSocketAddress(LabAddresses.NTP, 123)));
            return internet;
        } catch (IOException | RuntimeException e) {
            internet.close();
            throw e;
        }
    }

    private HttpsServer https(String address, SSLContext tls) throws IOException {
        HttpsServer s = HttpsServer.create(new InetSocketAddress(address, 443), 64);
        s.setHttpsConfigurator(new HttpsConfigurator(tls));
        s.setExecutor(pool);
        s.start();
        servers.add(s);
        return s;
    }

    private HttpServer http(String address) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(address, 80), 64);
        s.setExecutor(pool);
        s.start();
        servers.add(s);
        return s;
    }

    /**
     * The API moves (as a provider's addresses rotate): the resolver answers the new address, and
     * the server on the old one is restarted, which drops every open connection to it, to serve the
     * neighbour site only (the API answers 421 there). {@code moved} false puts it back the same way,
     * so no client keeps a connection to an address the API has left. Answers 204 once done.
     */
    private synchronized void moveApi(HttpExchange ex, boolean moved) throws IOException {
        ex.getRequestBody().readAllBytes();
        apiMoved = moved;
        dns.answer(LabAddresses.LLM_NAME, moved ? LabAddresses.LLM_API_MOVED : null);
        String abandoned = moved ? LabAddresses.LLM_API : LabAddresses.LLM_API_MOVED;
        HttpsServer old = apiServers.remove(abandoned);
        servers.remove(old);
        old.stop(0);
        apiServer(abandoned);
        ex.sendResponseHeaders(204, -1);
        ex.close();
    }

    private void apiServer(String address) throws IOException {
        HttpsServer s = https(address, tls);
        s.createContext("/", this::llmApi);
        apiServers.put(address, s);
    }

    /** 203.0.113.10 and .11, port 443: the LLM API for api.openai.com, the neighbour site for any other Host. */
    private void llmApi(HttpExchange ex) throws IOException {
        String host = hostOf(ex);
        String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        String at = ex.getLocalAddress().getAddress().getHostAddress();
        if (!host.equals(LabAddresses.LLM_NAME)) {
            reply(ex, 200, "text/plain", NEIGHBOUR_PAGE + " (" + host + ")\n");
            return;
        }
        if (at.equals(apiMoved ? LabAddresses.LLM_API : LabAddresses.LLM_API_MOVED)) {
            reply(ex, 421, "application/json", "{\"error\":{\"message\":\"api.openai.com is not served from " + at + "\"}}");
            return;
        }
        String path = ex.getRequestURI().getPath();
        boolean stream = body.replace(" ", "").contains("\"stream\":true");
        record(ex, path, stream);
        String key = key(ex);
        if (key == null) {
            reply(ex, 401, "application/json", "{\"error\":{\"message\":\"You didn't provide an API key.\",\"type\":\"invalid_request_error\"}}");
        } else if (path.equals("/v1/models") && ex.getRequestMethod().equals("GET")) {
            reply(ex, 200, "application/json", "{\"object\":\"list\",\"data\":[{\"id\":\"" + MODEL
                    + "\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"enclave-lab\"}]}");
        } else if (path.equals("/v1/chat/completions") && ex.getRequestMethod().equals("POST")) {
            if (stream) {
                stream(ex);
            } else {
                reply(ex, 200, "application/json", "{\"id\":\"chatcmpl-lab\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\""
                        + MODEL + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + REPLY
                        + "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,\"total_tokens\":10}}");
            }
        } else {
            reply(ex, 404, "application/json", "{\"error\":{\"message\":\"Unknown request URL: " + path + "\"}}");
        }
    }

    private void stream(HttpExchange ex) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            for (String word : REPLY.split(" ")) {
                out.write(("data: {\"id\":\"chatcmpl-lab\",\"object\":\"chat.completion.chunk\",\"model\":\"" + MODEL
                        + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word + " \"}}]}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** One line of llm-calls.log: what the API saw, including the key (the lab's keys are fake). */
    private void record(HttpExchange ex, String path, boolean stream) throws IOException {
        Map<String, Object> call = new LinkedHashMap<>();
        call.put("time", Instant.now().toString());
        call.put("from", ex.getRemoteAddress().getAddress().getHostAddress());
        call.put("at", ex.getLocalAddress().getAddress().getHostAddress());
        call.put("method", ex.getRequestMethod());
        call.put("path", path);
        call.put("stream", stream);
        call.put("key", key(ex));
        synchronized (llmLog) {
            llmLog.write(JSON.writeValueAsString(call) + "\n");
            llmLog.flush();
        }
    }

    private static String key(HttpExchange ex) {
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return auth.substring(7).strip();
        }
        return ex.getRequestHeaders().getFirst("x-api-key");
    }

    private static String hostOf(HttpExchange ex) {
        String host = ex.getRequestHeaders().getFirst("Host");
        if (host == null) {
            return "";
        }
        int colon = host.lastIndexOf(':');
        return (colon > 0 && !host.endsWith("]") ? host.substring(0, colon) : host).toLowerCase(Locale.ROOT);
    }

    private static void page(HttpExchange ex, String site) throws IOException {
        ex.getRequestBody().readAllBytes();
        reply(ex, 200, "text/html", "<!doctype html><title>" + site + " (lab)</title><p>This is " + site + " on the lab's internet.</p>\n");
    }

    private static void metadata(HttpExchange ex) throws IOException {
        ex.getRequestBody().readAllBytes();
        String path = ex.getRequestURI().getPath();
        if (path.equals("/latest/meta-data/iam/security-credentials/") || path.equals("/latest/meta-data/iam/security-credentials")) {
            reply(ex, 200, "text/plain", "enclave-lab-role");
        } else if (path.equals("/latest/meta-data/iam/security-credentials/enclave-lab-role")) {
            reply(ex, 200, "application/json", "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIALABLABLABLABLAB\","
                    + "\"SecretAccessKey\":\"" + METADATA_SECRET + "\",\"Token\":\"lab-token\"}");
        } else if (path.startsWith("/latest/meta-data")) {
            reply(ex, 200, "text/plain", "ami-id\nhostname\niam/\ninstance-id\nlocal-ipv4\n");
        } else {
            reply(ex, 404, "text/plain", "not found\n");
        }
    }

    private static void reply(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        for (HttpServer s : servers) {
            s.stop(0);
        }
        for (AutoCloseable u : udp) {
            try {
                u.close();
            } catch (Exception e) {
                // closing a socket
            }
        }
        pool.shutdownNow();
        for (Writer w : List.of(llmLog, dnsLog)) {
            try {
                w.close();
            } catch (IOException e) {
                // already closed
            }
        }
    }

    /** {@code FakeInternet LAB_DIR}: runs the internet until killed (started by 'enclave lab up' inside enclave-net). */
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        FakeInternet internet;
        try {
            internet = start(dir);
        } catch (IOException e) {
            System.out.println("enclave lab internet: " + e.getMessage());
            System.exit(2);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(internet::close, "lab-internet-stop"));
        Path ready = dir.resolve("internet").resolve("ready");
        Path tmp = ready.resolveSibling("ready.tmp");
        Files.writeString(tmp, Long.toString(ProcessHandle.current().pid()));
        Files.move(tmp, ready, java.nio.file.StandardCopyOption.ATOMIC_MOVE); // whoever sees the file sees the pid
        System.out.println("enclave lab internet: up (pid " + ProcessHandle.current().pid() + ")");
        Thread.currentThread().join();
    }
}
