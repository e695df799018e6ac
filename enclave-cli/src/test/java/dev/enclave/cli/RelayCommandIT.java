package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code enclave relay} as the shaded jar runs it: flags, the key's source, and what it prints. */
class RelayCommandIT {
    private static final String KEY = "sk-relay-cli-secret-9e8d7c6b";

    @TempDir
    Path tmp;

    @Test
    void relayHasHelp() throws Exception {
        EnclaveJar.Result r = EnclaveJar.run("relay", "--help");
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("--key-env").contains("--upstream").contains("--preset");
    }

    @ParameterizedTest(name = "relay {0} exits 2 with a one-line reason")
    @CsvSource(delimiter = '|', textBlock = """
            --upstream=http://api.openai.com     | must be https://
            --upstream=https://api.openai.com/v1 | without a path
            --upstream=https://192.0.2.7         | must be a name
            --preset=gemini                      | expected: openai, anthropic or azure
            --path=v1/chat                       | must start with /
            --path=/v1/../admin                  | dot-segment
            --listen=localhost:4000              | not a numeric IP address
            --key-env=sk-looks-like-a-key        | never the key itself
            --key-env=ENCLAVE_RELAY_UNSET_VAR    | not set or empty
            --ca=/nonexistent/ca.pem             | --ca /nonexistent/ca.pem
            """)
    void badFlagsExit2WithOneLine(String flag, String expected) throws Exception {
        String[] kv = flag.split("=", 2);
        java.util.Map<String, String> args = new java.util.LinkedHashMap<>();
        args.put("--listen", "127.0.0.1:0");
        args.put("--upstream", "https://api.openai.com");
        args.put("--key-env", "ENCLAVE_RELAY_TEST_KEY");
        args.put(kv[0], kv[1]);
        java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("relay"));
        args.forEach((k, v) -> {
            argv.add(k);
            argv.add(v);
        });
        ProcessBuilder pb = EnclaveJar.command(argv.toArray(String[]::new));
        pb.environment().put("ENCLAVE_RELAY_TEST_KEY", KEY);
        pb.environment().remove("ENCLAVE_RELAY_UNSET_VAR");
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(err.strip().lines()).hasSize(1);
        assertThat(err).startsWith("enclave: ").contains(expected).doesNotContain("sk-looks-like-a-key").doesNotContain(KEY);
        assertThat(out).doesNotContain(KEY);
    }

    @Test
    void relayRefusesOtherPathsAnswers502ForAnUpstreamThatIsDownAndNeverShowsTheKey() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        Path audit = tmp.resolve("relay-audit.log");
        ProcessBuilder pb = EnclaveJar.command("relay", "--listen", "127.0.0.1:0", "--upstream", "https://api.llm.test",
                "--key-env", "ENCLAVE_RELAY_TEST_KEY", "--resolve", "api.llm.test:443=127.0.0.1:" + closedPort,
                "--allow-cidr", "127.0.0.1/32", "--audit", audit.toString()).redirectErrorStream(true);
        Path output = tmp.resolve("relay-output.txt");
        pb.redirectOutput(output.toFile());
        pb.environment().put("ENCLAVE_RELAY_TEST_KEY", KEY);
        Process relay = pb.start();
        try {
            String first = firstLine(output, relay);
            Matcher m = Pattern.compile("enclave relay: listening on 127\\.0\\.0\\.1:(\\d+), forwarding /v1/chat/completions .* to https://api\\.llm\\.test \\(openai, key from \\$ENCLAVE_RELAY_TEST_KEY\\)").matcher(first);
            assertThat(m.find()).as(first).isTrue();
            int port = Integer.parseInt(m.group(1));
            String cmdline = Files.readString(Path.of("/proc/" + relay.pid() + "/cmdline"));
            assertThat(cmdline).contains("ENCLAVE_RELAY_TEST_KEY").doesNotContain(KEY);

            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<String> refused = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/files"))
                    .header("Authorization", "Bearer placeholder").POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(refused.statusCode()).isEqualTo(403);
            assertThat(refused.body()).contains("not on the relay's allowlist");
            HttpResponse<String> down = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                    .header("Authorization", "Bearer placeholder").POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(down.statusCode()).isEqualTo(502);
            assertThat(down.body()).contains("cannot connect to upstream api.llm.test");
            assertThat(refused.body() + down.body() + down.headers().map()).doesNotContain(KEY);
        } finally {
            relay.destroy();
            assertThat(relay.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
        String printed = Files.readString(output);
        String lines = Files.readString(audit);
        assertThat(lines).contains("\"event\":\"start\"").contains("\"path\":\"/v1/files\"").contains("\"status\":502");
        assertThat(lines).doesNotContain(KEY);
        assertThat(printed).doesNotContain(KEY);
    }

    /** The first line the process printed (waits up to 30 s for it). */
    private static String firstLine(Path output, Process p) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            String text = Files.readString(output);
            int nl = text.indexOf('\n');
            if (nl >= 0) {
                return text.substring(0, nl);
            }
            if (!p.isAlive()) {
                throw new AssertionError("relay exited " + p.exitValue() + ": " + text);
            }
            Thread.sleep(50);
        }
        throw new AssertionError("relay printed nothing in 30 s");
    }
}
