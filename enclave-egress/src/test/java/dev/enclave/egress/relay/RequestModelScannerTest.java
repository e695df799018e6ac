package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RequestModelScannerTest {
    private static final String CHAT = """
            {
              "messages": [ { "role": "user", "content": "Say hi" } ],
              "model" : "gpt-4o-mini",
              "stream": true
            }""";

    @Test
    void findsTheTopLevelModelMember() {
        assertThat(scanWhole(CHAT)).isEqualTo("gpt-4o-mini");
    }

    @Test
    void findsItWhateverTheChunkBoundaries() {
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        for (int split = 0; split <= body.length; split++) {
            RequestModelScanner scanner = new RequestModelScanner();
            scanner.feed(body, 0, split);
            scanner.feed(body, split, body.length - split);
            assertThat(scanner.model()).as("split at byte %d", split).isEqualTo("gpt-4o-mini");
        }
        RequestModelScanner oneByteAtATime = new RequestModelScanner();
        for (int i = 0; i < body.length; i++) {
            oneByteAtATime.feed(body, i, 1);
        }
        assertThat(oneByteAtATime.model()).isEqualTo("gpt-4o-mini");
    }

    @Test
    void aModelMemberOfANestedObjectOrArrayDoesNotCount() {
        assertThat(scanWhole("{\"metadata\": {\"model\": \"nested\"}, \"messages\": [{\"model\": \"in-array\"}]}")).isNull();
        assertThat(scanWhole("{\"metadata\": {\"model\": \"nested\"}, \"model\": \"gpt-4o\", \"x\": [{\"model\": \"y\"}]}"))
                .isEqualTo("gpt-4o");
    }

    @Test
    void theWordModelInsideAStringDoesNotCount() {
        assertThat(scanWhole("{\"prompt\": \"{\\\"model\\\": \\\"evil\\\"}\", \"n\": 1}")).isNull();
        assertThat(scanWhole("{\"messages\": [{\"content\": \"\\\"model\\\": \\\"evil\\\"\"}], \"model\": \"gpt-4o\"}"))
                .isEqualTo("gpt-4o");
    }

    @Test
    void escapesInKeyAndValueAreDecodedAsAJsonParserWould() {
        assertThat(scanWhole("{\"mod\\u0065l\": \"gpt\\u002d4o\\/mini\"}")).isEqualTo("gpt-4o/mini");
        assertThat(scanWhole("{\"model\": \"\\ud83d\\ude00-\\u00e9\"}")).isEqualTo("\uD83D\uDE00-\u00e9");
        assertThat(scanWhole("{\"model\": \"caf\u00e9\"}")).as("raw UTF-8").isEqualTo("caf\u00e9");
        assertThat(scanWhole("{\"model\": \"\\ud83d-x\"}")).as("a lone surrogate").isEqualTo("\uFFFD-x");
        assertThat(scanWhole("{\"model \": \"no\", \"Model\": \"no\"}")).as("keys are compared exactly").isNull();
    }

    @Test
    void whenTheKeyIsRepeatedTheLastOneWins() {
        assertThat(scanWhole("{\"model\": \"cheap\", \"messages\": [], \"model\": \"expensive\"}")).isEqualTo("expensive");
        assertThat(scanWhole("{\"model\": \"cheap\", \"model\": 4}")).as("a later non-string replaces it").isNull();
    }

    @Test
    void aModelThatIsNotAShortStringIsUnknown() {
        assertThat(scanWhole("{\"model\": 4}")).isNull();
        assertThat(scanWhole("{\"model\": null}")).isNull();
        assertThat(scanWhole("{\"model\": {\"name\": \"gpt-4o\"}}")).isNull();
        assertThat(scanWhole("{\"model\": \"" + "m".repeat(257) + "\"}")).isNull();
        assertThat(scanWhole("{\"model\": \"" + "m".repeat(256) + "\"}")).hasSize(256);
    }

    @Test
    void aBodyThatIsNotAJsonObjectHasNoModel() {
        assertThat(scanWhole("[{\"model\": \"gpt-4o\"}]")).isNull();
        assertThat(scanWhole("model=gpt-4o")).isNull();
        assertThat(scanWhole("")).isNull();
        assertThat(scanWhole("{\"model\" \"gpt-4o\"}")).as("missing colon").isNull();
        assertThat(scanWhole("{\"a\": 1} {\"model\": \"second-document\"}")).isNull();
    }

    @Test
    void theScanStopsAt64KiBSoALaterModelIsNotSeen() {
        String padding = "x".repeat(RequestModelScanner.DEFAULT_SCAN_BYTES);
        RequestModelScanner late = scan("{\"input\": \"" + padding + "\", \"model\": \"gpt-4o\"}");
        assertThat(late.model()).isNull();
        assertThat(late.finished()).isTrue();

        String image = "A".repeat(3 * 1024 * 1024);
        RequestModelScanner early = scan("{\"model\": \"gpt-4o\", \"image\": \"" + image + "\"}");
        assertThat(early.model()).isEqualTo("gpt-4o");
        assertThat(early.finished()).as("stops reading the image at the limit").isTrue();
    }

    @Test
    void theScanEndsWithTheTopLevelObject() {
        RequestModelScanner scanner = scan("{\"model\": \"gpt-4o\"}");
        assertThat(scanner.finished()).isTrue();
        scanner.feed("{\"model\": \"other\"}".getBytes(StandardCharsets.UTF_8), 0, 18);
        assertThat(scanner.model()).isEqualTo("gpt-4o");
    }

    @ParameterizedTest(name = "Content-Type {0}, Content-Encoding {1}: model {2}")
    @CsvSource(nullValues = "-", value = {
        "application/json,                   -,        gpt-4o",
        "application/json; charset=utf-8,    identity, gpt-4o",
        "Application/JSON,                   -,        gpt-4o",
        "application/vnd.api+json,           -,        gpt-4o",
        "-,                                  -,        gpt-4o",
        "text/plain,                         -,        -",
        "multipart/form-data; boundary=x,    -,        -",
        "application/json,                   gzip,     -",
    })
    void onlyUncompressedJsonBodiesAreScanned(String contentType, String contentEncoding, String expected) {
        RequestModelScanner scanner = RequestModelScanner.forRequest(contentType, contentEncoding);
        byte[] body = "{\"model\": \"gpt-4o\"}".getBytes(StandardCharsets.UTF_8);
        scanner.feed(body, 0, body.length);
        assertThat(scanner.model()).isEqualTo(expected);
    }

    @Test
    void readsByteBufsInPlaceWithoutMovingTheirReaderIndex() {
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        Random random = new Random(7);
        RequestModelScanner scanner = new RequestModelScanner();
        int i = 0;
        boolean direct = false;
        while (i < body.length) {
            int n = Math.min(1 + random.nextInt(9), body.length - i);
            ByteBuf chunk = direct ? Unpooled.directBuffer(n) : Unpooled.buffer(n);
            chunk.writeBytes(body, i, n);
            scanner.feed(chunk);
            assertThat(chunk.readerIndex()).isZero();
            assertThat(chunk.readableBytes()).isEqualTo(n);
            chunk.release();
            i += n;
            direct = !direct;
        }
        assertThat(scanner.model()).isEqualTo("gpt-4o-mini");
    }

    private static String scanWhole(String body) {
        return scan(body).model();
    }

    private static RequestModelScanner scan(String body) {
        RequestModelScanner scanner = new RequestModelScanner();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        scanner.feed(bytes, 0, bytes.length);
        return scanner;
    }
}
