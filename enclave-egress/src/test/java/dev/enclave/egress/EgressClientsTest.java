package dev.enclave.egress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.ProxyFixture;
import dev.enclave.egress.testing.TestPki;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The allowed path as real clients take it: an OpenAI-style HTTPS call through the proxy to a
 * TLS server reached by name, from curl, the JDK's HttpClient and the OpenAI Java SDK.
 */
class EgressClientsTest {
    @TempDir
    static Path tmp;
    static TestPki pki;
    static FakeLlmApi llm;
    static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        pki = TestPki.forNames("api.llm.test");
        llm = new FakeLlmApi(pki, "127.0.0.1");
        proxy = ProxyFixture.builder()
                .allow("api.llm.test:443")
                .pin("api.llm.test:443=127.0.0.1:" + llm.port())
                .allowCidr("127.0.0.1/32")
                .start(tmp);
    }

    @AfterAll
    static void stop() {
        proxy.close();
        llm.close();
    }

    private static String proxyUrl() {
        return "http://127.0.0.1:" + proxy.address().getPort();
    }

    @Test
    void curlCompletesAChatCallThroughTheProxy() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed (.ci/run installs it)");
        Path ca = pki.writeCaPem(tmp.resolve("ca.pem"));
        Process p = new ProcessBuilder("/usr/bin/curl", "-sS", "--max-time", "10", "--proxy", proxyUrl(),
                "--cacert", ca.toString(), "-H", "Content-Type: application/json",
                "-d", "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "https://api.llm.test/v1/chat/completions")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains(FakeLlmApi.REPLY);
    }

    @Test
    void curlIsToldWhyAnUnlistedHostIsRefused() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed (.ci/run installs it)");
        Process p = new ProcessBuilder("/usr/bin/curl", "-sS", "--max-time", "10", "--proxy", proxyUrl(),
                "https://evil.test/").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isNotZero();
        assertThat(out).contains("403");
    }

    @Test
    void jdkHttpClientCompletesAChatCallThroughTheProxy() throws Exception {
        HttpClient client = HttpClient.newBuilder()
                .proxy(ProxySelector.of(proxy.address()))
                .sslContext(pki.clientContext())
                .connectTimeout(Duration.ofSeconds(5))
                .build();
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("https://api.llm.test/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-test\",\"messages\":[]}"))
                        .timeout(Duration.ofSeconds(10))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains(FakeLlmApi.REPLY);
    }

    @Test
    void openAiJavaSdkCompletesAChatCallThroughTheProxy() {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .apiKey("sk-test-not-a-real-key")
                .baseUrl("https://api.llm.test/v1")
                .proxy(new Proxy(Proxy.Type.HTTP, new InetSocketAddress("127.0.0.1", proxy.address().getPort())))
                .sslSocketFactory(pki.clientContext().getSocketFactory())
                .trustManager(pki.trustManager())
                .maxRetries(0)
                .timeout(Duration.ofSeconds(10))
                .build();
        try {
            ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
                    .model("gpt-test")
                    .addUserMessage("hello")
                    .build());
            assertThat(completion.choices().get(0).message().content()).contains(FakeLlmApi.REPLY);
        } finally {
            client.close();
        }
    }
}
