package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.TestPki;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
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
        assertThat(r.out()).contains("--key-env").contains("--key-file").contains("--upstream").contains("--preset")
                .contains("--auth-header").contains("--auth-scheme").contains("--tokens-per-day")
                .contains("--requests-per-minute").contains("--config");
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
            --key-env=ENCLAVE_RELAY_UNSET_VAR    | ENCLAVE_RELAY_UNSET_VAR is not set
            --key-file=/nonexistent/key          | no such file
            --key-file=sk-looks-like-a-key       | not repeated, in case it is the key
            --auth-header=Host                   | cannot carry the key
            --auth-scheme=two words              | must be one word
            --tokens-per-day=0                   | at least 1
            --requests-per-minute=0              | give 1 to 100000
            --ca=/nonexistent/ca.pem             | --ca /nonexistent/ca.pem
            """)
    void badFlagsExit2WithOneLine(String flag, String expected) throws Exception {
        String[] kv = flag.split("=", 2);
        java.util.Map<String, String> args = new java.util.LinkedHashMap<>();
        args.put("--listen", "127.0.0.1:0");
        args.put("--upstream", "https://api.openai.com");
        args.put("--key-env", "ENCLAVE_RELAY_TEST_KEY");
        if (kv[0].equals("--key-file")) {
            args.remove("--key-env");
        }
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

    @Test
    void aKeyFileThatOthersCanReadExits2WithTheFixAndNeverTheKey() throws Exception {
        Path keyFile = tmp.resolve("llm.key");
        Files.writeString(keyFile, KEY + "\n");
        Files.setPosixFilePermissions(keyFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        String err = exit2(java.util.Map.of(), "relay", "--listen", "127.0.0.1:0", "--upstream", "https://api.openai.com",
                "--key-file", keyFile.toString());
        assertThat(err).contains("--key-file").contains("mode 0644").contains("chmod 600 " + keyFile);
    }

    @Test
    void exactlyOneKeySourceIsRequired() throws Exception {
        Path keyFile = tmp.resolve("llm.key");
        Files.writeString(keyFile, KEY);
        Files.setPosixFilePermissions(keyFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        assertThat(exit2(java.util.Map.of("ENCLAVE_RELAY_TEST_KEY", KEY), "relay", "--listen", "127.0.0.1:0",
                "--upstream", "https://api.openai.com", "--key-env", "ENCLAVE_RELAY_TEST_KEY", "--key-file", keyFile.toString()))
                .contains("give --key-env or --key-file, not both");
        assertThat(exit2(java.util.Map.of(), "relay", "--listen", "127.0.0.1:0", "--upstream", "https://api.openai.com"))
                .contains("give --key-env VAR").contains("--key-file FILE");
    }

    @Test
    void aKeyFileAndARequestRateBudgetFromTheCommandLine() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        Path keyFile = tmp.resolve("llm.key");
        Files.writeString(keyFile, KEY + "\n");
        Files.setPosixFilePermissions(keyFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Path audit = tmp.resolve("relay-audit.log");
        Path output = tmp.resolve("relay-output.txt");
        ProcessBuilder pb = EnclaveJar.command("relay", "--listen", "127.0.0.1:0", "--upstream", "https://api.llm.test",
                "--key-file", keyFile.toString(), "--requests-per-minute", "1", "--tokens-per-day", "100000",
                "--resolve", "api.llm.test:443=127.0.0.1:" + closedPort, "--allow-cidr", "127.0.0.1/32",
                "--audit", audit.toString()).redirectErrorStream(true);
        pb.redirectOutput(output.toFile());
        Process relay = pb.start();
        try {
            String first = lines(output, relay, 1).get(0);
            assertThat(first).contains("key from file " + keyFile).contains("budget 100000 tokens/day 1 requests/min");
            int port = port(first);
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpRequest chat = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                    .header("Content-Type", "application/json").header("Authorization", "Bearer placeholder")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o\"}")).build();
            HttpResponse<String> admitted = http.send(chat, HttpResponse.BodyHandlers.ofString());
            assertThat(admitted.statusCode()).isEqualTo(502); // admitted (the upstream is down), so it used the minute's one call
            HttpResponse<String> over = http.send(chat, HttpResponse.BodyHandlers.ofString());
            assertThat(over.statusCode()).isEqualTo(429);
            assertThat(over.body()).contains("over this relay's request rate: 1 of 1 requests in the last minute");
            assertThat(over.headers().firstValue("retry-after")).isPresent();
        } finally {
            relay.destroy();
            assertThat(relay.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
        String lines = Files.readString(audit);
        assertThat(lines).contains("\"status\":429").contains("\"limit\":\"requests_per_minute\"")
                .contains("\"event\":\"budget_alert\"").contains("\"model\":\"gpt-4o\"");
        assertThat(lines + Files.readString(output)).doesNotContain(KEY);
    }

    @Test
    void aConfigRunsARelayForEveryLlmEntry() throws Exception {
        Path config = tmp.resolve("enclave.yaml");
        Files.writeString(config, "llm:\n"
                + "  - listen: 127.0.0.1:0\n"
                + "    upstream: \"https://api.openai.test\"\n"
                + "    key: { env: ENCLAVE_RELAY_TEST_KEY }\n"
                + "    budget: { requests_per_minute: 5 }\n"
                + "  - preset: anthropic\n"
                + "    listen: 127.0.0.2:0\n"
                + "    upstream: \"https://api.anthropic.test\"\n"
                + "    key: { env: ENCLAVE_RELAY_OTHER_KEY }\n");
        Path audit = tmp.resolve("relay-audit.log");
        Path output = tmp.resolve("relay-output.txt");
        ProcessBuilder pb = EnclaveJar.command("relay", "-c", config.toString(), "--audit", audit.toString())
                .redirectErrorStream(true);
        pb.redirectOutput(output.toFile());
        pb.environment().put("ENCLAVE_RELAY_TEST_KEY", KEY);
        pb.environment().put("ENCLAVE_RELAY_OTHER_KEY", KEY + "-other");
        Process relay = pb.start();
        try {
            List<String> started = lines(output, relay, 2);
            assertThat(started.get(0)).startsWith("enclave relay: llm[0]: listening on 127.0.0.1:")
                    .contains("to https://api.openai.test (openai, key from $ENCLAVE_RELAY_TEST_KEY), budget 5 requests/min");
            assertThat(started.get(1)).startsWith("enclave relay: llm[1]: listening on 127.0.0.2:")
                    .contains("forwarding /v1/messages /v1/models to https://api.anthropic.test (anthropic, key from $ENCLAVE_RELAY_OTHER_KEY)");
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            for (String line : started) {
                String host = line.contains("127.0.0.2") ? "127.0.0.2" : "127.0.0.1";
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + host + ":" + port(line) + "/v1/files"))
                        .GET().build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(line).isEqualTo(403);
            }
        } finally {
            relay.destroy();
            assertThat(relay.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
        String lines = Files.readString(audit);
        assertThat(lines).contains("\"upstream\":\"https://api.openai.test\"").contains("\"upstream\":\"https://api.anthropic.test\"")
                .contains("\"upstream\":\"api.openai.test\",\"status\":403").contains("\"upstream\":\"api.anthropic.test\",\"status\":403");
        assertThat(lines + Files.readString(output)).doesNotContain(KEY);
    }

    @Test
    void configEntriesSharingAListenAddressAreRoutedByPathAndAKeyFileIsReReadWhenItChanges() throws Exception {
        TestPki pki = TestPki.forNames("api.openai.test", "api.anthropic.test");
        try (FakeLlmApi openai = new FakeLlmApi(pki, "127.0.0.1"); FakeLlmApi anthropic = new FakeLlmApi(pki, "127.0.0.1")) {
            Path ca = pki.writeCaPem(tmp.resolve("ca.pem"));
            Path keyFile = tmp.resolve("openai.key");
            Files.createFile(keyFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(keyFile, KEY + "\n");
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            Path config = tmp.resolve("enclave.yaml");
            Files.writeString(config, "llm:\n"
                    + "  - listen: 127.0.0.1:" + port + "\n"
                    + "    upstream: \"https://api.openai.test\"\n"
                    + "    key: { file: " + keyFile + " }\n"
                    + "    paths: [ /v1/chat/completions ]\n"
                    + "    resolve: [ \"api.openai.test:443=127.0.0.1:" + openai.port() + "\" ]\n"
                    + "    allow_cidr: [ 127.0.0.1/32 ]\n"
                    + "    ca: " + ca + "\n"
                    + "  - preset: anthropic\n"
                    + "    listen: 127.0.0.1:" + port + "\n"
                    + "    upstream: \"https://api.anthropic.test\"\n"
                    + "    key: { env: ENCLAVE_RELAY_OTHER_KEY }\n"
                    + "    paths: [ /v1/messages ]\n"
                    + "    resolve: [ \"api.anthropic.test:443=127.0.0.1:" + anthropic.port() + "\" ]\n"
                    + "    allow_cidr: [ 127.0.0.1/32 ]\n"
                    + "    ca: " + ca + "\n");
            Path audit = tmp.resolve("relay-audit.log");
            Path output = tmp.resolve("relay-output.txt");
            ProcessBuilder pb = EnclaveJar.command("relay", "-c", config.toString(), "--audit", audit.toString())
                    .redirectErrorStream(true);
            pb.redirectOutput(output.toFile());
            pb.environment().put("ENCLAVE_RELAY_OTHER_KEY", KEY + "-other");
            Process relay = pb.start();
            String rotated = KEY + "-rotated";
            try {
                List<String> started = lines(output, relay, 2);
                assertThat(started.get(0)).startsWith("enclave relay: llm[0]: listening on 127.0.0.1:" + port + ", forwarding /v1/chat/completions to https://api.openai.test");
                assertThat(started.get(1)).startsWith("enclave relay: llm[1]: listening on 127.0.0.1:" + port + ", forwarding /v1/messages to https://api.anthropic.test");
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                String base = "http://127.0.0.1:" + port;
                HttpRequest chat = HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                        .header("Content-Type", "application/json").header("Authorization", "Bearer placeholder")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-test\"}")).build();
                assertThat(http.send(chat, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
                HttpRequest messages = HttpRequest.newBuilder(URI.create(base + "/v1/messages"))
                        .header("Content-Type", "application/json").header("x-api-key", "placeholder")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"claude-test\"}")).build();
                assertThat(http.send(messages, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
                HttpResponse<String> neither = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/files")).GET().build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(neither.statusCode()).isEqualTo(403);

                Files.writeString(keyFile, rotated + "\n"); // rotation: no restart
                assertThat(http.send(chat, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
                Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-r--r--"));
                HttpResponse<String> exposed = http.send(chat, HttpResponse.BodyHandlers.ofString());
                assertThat(exposed.statusCode()).isEqualTo(503);
                assertThat(exposed.body()).contains("run chmod 600 " + keyFile).doesNotContain(KEY);
            } finally {
                relay.destroy();
                assertThat(relay.waitFor(10, TimeUnit.SECONDS)).isTrue();
            }
            assertThat(openai.seen()).extracting(s -> s.header("Authorization").get(0))
                    .containsExactly("Bearer " + KEY, "Bearer " + rotated);
            assertThat(anthropic.seen()).singleElement().satisfies(s -> {
                assertThat(s.header("x-api-key")).containsExactly(KEY + "-other");
                assertThat(s.header("Authorization")).isEmpty();
            });
            String lines = Files.readString(audit);
            assertThat(lines).contains("\"path\":\"/v1/chat/completions\",\"query\":false,\"upstream\":\"api.openai.test\",\"status\":200")
                    .contains("\"path\":\"/v1/messages\",\"query\":false,\"upstream\":\"api.anthropic.test\",\"status\":200")
                    .contains("\"path\":\"/v1/files\",\"query\":false,\"status\":403")
                    .contains("\"event\":\"key_reloaded\"").contains("\"event\":\"key_reload_failed\"");
            assertThat(lines + Files.readString(output)).doesNotContain(KEY);
        }
    }

    @Test
    void configEntriesOnOneListenAddressWithOverlappingPathsAreRefusedNamingBoth() throws Exception {
        Path config = tmp.resolve("enclave.yaml");
        Files.writeString(config, "llm:\n"
                + "  - { listen: 127.0.0.1:4000, upstream: \"https://api.openai.test\", key: { env: K }, paths: [ /v1 ] }\n"
                + "  - { listen: 127.0.0.1:4000, upstream: \"https://api.anthropic.test\", key: { env: K }, paths: [ /v1/messages ] }\n");
        assertThat(exit2(java.util.Map.of("K", KEY), "relay", "-c", config.toString()))
                .contains("llm[1].listen: listens where llm[0] (line 2) does and both serve /v1/messages");
    }

    @Test
    void entryFlagsWithSeveralConfigEntriesAreRefused() throws Exception {
        Path config = tmp.resolve("enclave.yaml");
        Files.writeString(config, "llm:\n"
                + "  - { listen: 127.0.0.1:4000, upstream: \"https://api.openai.test\", key: { env: K } }\n"
                + "  - { listen: 127.0.0.1:4001, upstream: \"https://api.anthropic.test\", key: { env: K } }\n");
        assertThat(exit2(java.util.Map.of("K", KEY), "relay", "-c", config.toString(), "--requests-per-minute", "3"))
                .contains("has 2 llm: entries and the flags would apply to one of them");
    }

    @ParameterizedTest(name = "enclave {0} -c refuses a relayed host that is also on egress.allow")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"egress", "relay"})
    void aRelayedHostOnTheConnectAllowlistIsRefusedNamingBothEntries(String verb) throws Exception {
        Path config = tmp.resolve("enclave.yaml");
        Files.writeString(config, "egress:\n"
                + "  listen: 127.0.0.1:0\n"
                + "  allow: [ \"docs.example.test:443\", \"api.openai.test:443\" ]\n"
                + "llm:\n"
                + "  - listen: 127.0.0.1:0\n"
                + "    upstream: \"https://api.openai.test\"\n"
                + "    key: { env: ENCLAVE_RELAY_TEST_KEY }\n");
        String err = exit2(java.util.Map.of("ENCLAVE_RELAY_TEST_KEY", KEY), verb, "-c", config.toString());
        assertThat(err).contains(config + ":3 egress.allow[1]: \"api.openai.test:443\" covers api.openai.test, the upstream of llm[0] (line 6)")
                .contains("remove it from egress.allow");
    }

    /** Runs {@code args}, expects exit 2 with one line on standard error (never the key), and returns it. */
    private static String exit2(java.util.Map<String, String> env, String... args) throws Exception {
        ProcessBuilder pb = EnclaveJar.command(args);
        pb.environment().remove("ENCLAVE_RELAY_TEST_KEY");
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err).isEqualTo(2);
        assertThat(err.strip().lines()).as(err).hasSize(1);
        assertThat(err).startsWith("enclave: ");
        assertThat(out + err).doesNotContain(KEY);
        return err.strip();
    }

    private static int port(String listeningLine) {
        Matcher m = Pattern.compile("listening on [0-9.]+:(\\d+)").matcher(listeningLine);
        assertThat(m.find()).as(listeningLine).isTrue();
        return Integer.parseInt(m.group(1));
    }

    /** The first {@code n} lines the process printed (waits up to 30 s for them). */
    private static List<String> lines(Path output, Process p, int n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            List<String> lines = Files.readString(output).lines().toList();
            if (lines.size() >= n && Files.readString(output).endsWith("\n")) {
                return lines.subList(0, n);
            }
            if (!p.isAlive()) {
                throw new AssertionError("relay exited " + p.exitValue() + ": " + Files.readString(output));
            }
            Thread.sleep(50);
        }
        throw new AssertionError("relay printed fewer than " + n + " lines in 30 s: " + Files.readString(output));
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
