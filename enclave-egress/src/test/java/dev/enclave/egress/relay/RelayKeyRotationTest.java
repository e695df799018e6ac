package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.enclave.egress.testing.FakeLlmApi;
import dev.enclave.egress.testing.RawClient;
import dev.enclave.egress.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A key file is read again when it changes: the next call carries the new key, without a restart.
 * A key file that others can read stops the key's use (503 naming the fix); a file that is briefly
 * missing or half-written keeps the last good key. Every reload is audited; no key is ever output.
 */
class RelayKeyRotationTest {
    private static final String FIRST = "sk-rotation-first-0a1b2c";
    private static final String SECOND = "sk-rotation-second-3d4e5f";
    private static final String THIRD = "sk-rotation-third-6a7b8c";
    private static final String MODELS = "GET /v1/models HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer placeholder\r\n\r\n";

    @TempDir
    Path tmp;

    private final TestPki pki = TestPki.forNames("api.llm.test");

    @Test
    void aRewrittenOrReplacedKeyFileIsUsedFromTheNextCall() throws Exception {
        Path keyFile = keyFile("llm.key", FIRST);
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).keyFile(keyFile).start();
             RawClient c = new RawClient(relay.address)) {
            assertThat(call(c).status()).isEqualTo(200);

            Files.writeString(keyFile, SECOND + "\n"); // rewritten in place, mode kept
            assertThat(call(c).status()).isEqualTo(200);

            Path next = keyFile("llm.key.new", THIRD); // an editor's or a secret manager's atomic replace
            Files.move(next, keyFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            assertThat(call(c).status()).isEqualTo(200);
            assertThat(call(c).status()).isEqualTo(200);

            assertThat(llm.seen()).extracting(s -> s.header("Authorization").get(0))
                    .containsExactly("Bearer " + FIRST, "Bearer " + SECOND, "Bearer " + THIRD, "Bearer " + THIRD);
            List<JsonNode> reloads = relay.lines("key_reloaded");
            assertThat(reloads).hasSize(2).allSatisfy(n -> {
                assertThat(n.path("key_file").asText()).isEqualTo(keyFile.toString());
                assertThat(n.path("fingerprint").asText()).startsWith("sha256:");
            });
            assertThat(reloads.get(0).path("fingerprint")).isNotEqualTo(reloads.get(1).path("fingerprint"));
            assertNoKeyIn(relay.auditText());
        }
    }

    @Test
    void aKeyFileOthersCanReadStopsTheKeysUseUntilItIsPrivateAgain() throws Exception {
        Path keyFile = keyFile("llm.key", FIRST);
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).keyFile(keyFile).start();
             RawClient c = new RawClient(relay.address)) {
            assertThat(call(c).status()).isEqualTo(200);

            Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-r--r--"));
            RawClient.Response refused = call(c);
            assertThat(refused.status()).isEqualTo(503);
            assertThat(refused.reason()).isEqualTo("no_key");
            assertThat(refused.body()).contains(keyFile + ": mode 0644 lets other accounts read the API key; run chmod 600 " + keyFile);
            assertThat(call(c).status()).as("still refused: the old key is not used either").isEqualTo(503);
            assertThat(llm.requests()).isEqualTo(1);

            Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
            assertThat(call(c).status()).isEqualTo(200);
            assertThat(llm.seen().get(1).header("Authorization")).containsExactly("Bearer " + FIRST);

            JsonNode failed = relay.lines("key_reload_failed").get(0);
            assertThat(failed.path("reason").asText()).contains("mode 0644");
            assertThat(failed.path("action").asText()).isEqualTo("refusing calls (503) until the file is right");
            assertThat(relay.lines("key_reload_failed")).hasSize(1); // once per change of the file, not per call
            assertNoKeyIn(relay.auditText() + refused.head() + refused.body());
        }
    }

    @Test
    void aMissingOrMalformedKeyFileKeepsTheLastGoodKey() throws Exception {
        Path keyFile = keyFile("llm.key", FIRST);
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).keyFile(keyFile).start();
             RawClient c = new RawClient(relay.address)) {
            Files.delete(keyFile); // the moment between an editor's rename and its write
            assertThat(call(c).status()).isEqualTo(200);
            keyFile("llm.key", ""); // created empty, not yet written
            assertThat(call(c).status()).isEqualTo(200);
            Files.writeString(keyFile, SECOND + "\n");
            assertThat(call(c).status()).isEqualTo(200);

            assertThat(llm.seen()).extracting(s -> s.header("Authorization").get(0))
                    .containsExactly("Bearer " + FIRST, "Bearer " + FIRST, "Bearer " + SECOND);
            assertThat(relay.lines("key_reload_failed")).extracting(n -> n.path("action").asText())
                    .containsExactly("using the last good key until the file is right",
                            "using the last good key until the file is right");
            assertNoKeyIn(relay.auditText());
        }
    }

    @Test
    void aKeyFileThatIsWrongAtStartAnswers503UntilItIsFixed() throws Exception {
        Path keyFile = tmp.resolve("later.key"); // not there yet
        try (FakeLlmApi llm = new FakeLlmApi(pki, "127.0.0.1");
             RelayFixture relay = RelayFixture.builder(tmp).upstream(llm, pki).keyFile(keyFile).start();
             RawClient c = new RawClient(relay.address)) {
            RawClient.Response r = call(c);
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).contains(keyFile + ": no such file");
            keyFile("later.key", FIRST);
            assertThat(call(c).status()).isEqualTo(200);
            assertThat(llm.seen()).extracting(s -> s.header("Authorization").get(0)).containsExactly("Bearer " + FIRST);
        }
    }

    private static RawClient.Response call(RawClient c) throws Exception {
        c.send(MODELS);
        return c.readResponse();
    }

    private Path keyFile(String name, String key) throws Exception {
        Path f = tmp.resolve(name);
        Files.deleteIfExists(f);
        Files.createFile(f, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(f, key.isEmpty() ? "" : key + "\n");
        return f;
    }

    private static void assertNoKeyIn(String text) {
        assertThat(text).doesNotContain(FIRST).doesNotContain(SECOND).doesNotContain(THIRD);
    }
}
