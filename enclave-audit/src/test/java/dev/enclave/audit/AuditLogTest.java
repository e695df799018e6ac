package dev.enclave.audit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void eachEventIsOneJsonLineStartingWithTime() throws Exception {
        Path file = tmp.resolve("audit.log");
        try (AuditLog log = AuditLog.open(file)) {
            log.write(AuditEvent.of("egress", "tunnel").put("target", "api.openai.com:443").put("bytes_up", 12L)
                    .put("sni", null).put("ok", true));
            log.flush();
        }
        List<String> lines = Files.readAllLines(file);
        assertThat(lines).hasSize(1);
        assertThat(lines.get(0)).startsWith("{\"time\":\"");
        JsonNode n = JSON.readTree(lines.get(0));
        assertThat(n.path("component").asText()).isEqualTo("egress");
        assertThat(n.path("target").asText()).isEqualTo("api.openai.com:443");
        assertThat(n.path("bytes_up").asLong()).isEqualTo(12);
        assertThat(n.has("sni")).as("null fields are left out").isFalse();
        assertThat(n.path("ok").asBoolean()).isTrue();
    }

    @Test
    void hostileStringsCannotBreakTheLine() throws Exception {
        String hostile = "evil\"}\n{\"decision\":\"allow\\\u0000\r\t\u001b\u007f\u2028\u2029é€😀";
        String line = AuditLog.format(AuditEvent.of("egress", "tunnel").put("target", hostile).put("n", 7L), Instant.EPOCH);
        assertThat(line).doesNotContain("\n").doesNotContain("\r").doesNotContain("\u2028");
        JsonNode parsed = JSON.readTree(line);
        assertThat(parsed.path("target").asText()).isEqualTo(hostile);
        assertThat(parsed.path("n").asLong()).isEqualTo(7);
        assertThat(parsed.path("time").asText()).isEqualTo("1970-01-01T00:00:00Z");
    }

    @Test
    void aFieldPutTwiceKeepsItsPlaceAndTakesTheLastValueAndManyFieldsAllArrive() throws Exception {
        AuditEvent e = AuditEvent.of("relay", "call").put("status", 200).put("model", "a");
        for (int i = 0; i < 60; i++) {
            e.put("f" + i, i);
        }
        e.put("status", 502).put("model", null);
        String line = AuditLog.format(e, Instant.EPOCH);
        assertThat(line).startsWith("{\"time\":\"1970-01-01T00:00:00Z\",\"component\":\"relay\",\"event\":\"call\",\"status\":502,\"model\":\"a\",\"f0\":0,");
        JsonNode parsed = JSON.readTree(line);
        assertThat(parsed.size()).isEqualTo(3 + 2 + 60);
        assertThat(parsed.path("f59").asInt()).isEqualTo(59);
    }

    @Test
    void theTimeIsWrittenExactlyAsInstantPrintsIt() {
        // The writer formats the time itself (cheaper than DateTimeFormatter): it must never differ.
        List<Instant> times = List.of(Instant.EPOCH, Instant.parse("2026-11-25T15:24:10Z"),
                Instant.parse("2026-11-25T15:24:10.100Z"), Instant.parse("2026-11-25T15:24:10.000120Z"),
                Instant.parse("2026-11-25T15:24:10.123456Z"), Instant.parse("2026-11-25T15:24:10.000000001Z"),
                Instant.parse("2026-11-25T15:24:11.999999999Z"), Instant.parse("1969-12-31T23:59:59.5Z"),
                Instant.parse("9999-12-31T23:59:59.999Z"), Instant.parse("+10000-01-01T00:00:00Z"),
                Instant.parse("-0001-06-01T12:00:00.25Z"), Instant.parse("2024-02-29T00:00:00.010Z"), Instant.now());
        for (Instant t : times) {
            String line = AuditLog.format(AuditEvent.of("relay", "call"), t);
            assertThat(line).as("%s", t).startsWith("{\"time\":\"" + t + "\",");
        }
    }

    @Test
    void theFileIsCreatedReadableByItsOwnerOnly() throws Exception {
        Path file = tmp.resolve("new.log");
        try (AuditLog log = AuditLog.open(file)) {
            log.flush();
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    }

    @Test
    void concurrentWritersNeverInterleaveLines() throws Exception {
        Path file = tmp.resolve("many.log");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (AuditLog log = AuditLog.open(file)) {
            for (int t = 0; t < 8; t++) {
                int thread = t;
                pool.submit(() -> {
                    for (int i = 0; i < 1000; i++) {
                        log.write(AuditEvent.of("test", "line").put("thread", thread).put("i", i).put("pad", "x".repeat(200)));
                    }
                });
            }
            pool.shutdown();
            assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
            log.flush();
        }
        List<String> lines = Files.readAllLines(file);
        assertThat(lines).hasSize(8000);
        for (String l : lines) {
            assertThat(JSON.readTree(l).path("pad").asText()).hasSize(200);
        }
    }

    @Test
    void aLogThatCannotWriteReportsUnhealthyAndRefusesMoreLines() throws Exception {
        assumeTrue(Files.isWritable(Path.of("/dev/full")), "/dev/full is not available");
        try (AuditLog log = AuditLog.open(Path.of("/dev/full"))) {
            log.write(AuditEvent.of("test", "first"));
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (log.healthy() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(log.healthy()).isFalse();
            assertThatThrownBy(() -> log.write(AuditEvent.of("test", "second")))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("not writable");
        }
    }
}
