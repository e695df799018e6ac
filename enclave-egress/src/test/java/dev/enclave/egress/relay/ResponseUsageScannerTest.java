package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ResponseUsageScannerTest {
    private static final String JSON = "application/json";
    private static final String SSE = "text/event-stream";

    // ---- application/json ---------------------------------------------------------------------

    static final String CHAT_COMPLETION = """
            {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                       "prompt_tokens_details": {"cached_tokens": 0}}}""";

    @Test
    void chatCompletionsReportPromptAndCompletionTokens() {
        assertThat(scan(JSON, CHAT_COMPLETION)).isEqualTo(new TokenUsage(12, 3));
    }

    @Test
    void theResponsesApiReportsInputAndOutputTokens() {
        String body = """
                {"id": "resp_1", "object": "response", "output": [{"type": "message", "content": [{"type": "output_text",
                 "text": "Hi"}]}], "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 4},
                 "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 27}}""";
        assertThat(scan(JSON, body)).isEqualTo(new TokenUsage(20, 7));
    }

    @Test
    void anthropicMessagesCountCachedPromptTokensAsPromptTokens() {
        String body = """
                {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi"}],
                 "usage": {"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
                 "output_tokens": 5}}""";
        assertThat(scan(JSON, body)).isEqualTo(new TokenUsage(1110, 5));
    }

    @Test
    void usageDeeperThanTheTopLevelOrInsideStringsDoesNotCount() {
        String body = """
                {"choices": [{"message": {"content": "\\"usage\\": {\\"prompt_tokens\\": 999}",
                  "usage": {"prompt_tokens": 998}}}],
                 "metadata": {"usage": {"prompt_tokens": 997}},
                 "data": {"response": {"usage": {"prompt_tokens": 996}}},
                 "tool": {"message": {"usage": {"completion_tokens": 995}}}}""";
        assertThat(scan(JSON, body)).isEqualTo(TokenUsage.UNKNOWN);
        assertThat(TokenUsage.UNKNOWN.isKnown()).isFalse();
        assertThat(TokenUsage.UNKNOWN.total()).isZero();
    }

    @Test
    void countsThatAreNotWholeNonNegativeNumbersAreIgnored() {
        assertThat(scan(JSON, "{\"usage\": {\"prompt_tokens\": null, \"completion_tokens\": \"7\"}}")).isEqualTo(TokenUsage.UNKNOWN);
        assertThat(scan(JSON, "{\"usage\": {\"prompt_tokens\": 1.5, \"completion_tokens\": -3}}")).isEqualTo(TokenUsage.UNKNOWN);
        assertThat(scan(JSON, "{\"usage\": {\"prompt_tokens\": 99999999999999999999999}}")).isEqualTo(TokenUsage.UNKNOWN);
        assertThat(scan(JSON, "{\"usage\": {\"completion_tokens\": 4}}")).isEqualTo(new TokenUsage(-1, 4));
        assertThat(new TokenUsage(-1, 4).total()).isEqualTo(4);
    }

    @Test
    void anErrorBodyHasNoUsage() {
        assertThat(scan(JSON, "{\"error\": {\"message\": \"Incorrect API key provided\", \"type\": \"invalid_request_error\"}}"))
                .isEqualTo(TokenUsage.UNKNOWN);
    }

    @Test
    void aBrokenDocumentReportsOnlyWhatCameBeforeTheBreak() {
        assertThat(scan(JSON, "{\"usage\": {\"prompt_tokens\": 5}} trailing")).isEqualTo(new TokenUsage(5, -1));
        assertThat(scan(JSON, "{\"x\": ] \"usage\": {\"prompt_tokens\": 5}}")).isEqualTo(TokenUsage.UNKNOWN);
    }

    @Test
    void theUsageIsFoundWhateverTheChunkBoundaries() {
        byte[] body = utf8(CHAT_COMPLETION);
        for (int split = 0; split <= body.length; split++) {
            ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(JSON, null);
            scanner.feed(body, 0, split);
            scanner.feed(body, split, body.length - split);
            assertThat(scanner.usage()).as("split at byte %d", split).isEqualTo(new TokenUsage(12, 3));
        }
    }

    // ---- text/event-stream --------------------------------------------------------------------

    static final String OPENAI_STREAM = """
            data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}

            data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}

            data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

            data: [DONE]

            """;

    @Test
    void anOpenAiStreamReportsTheUsageOfItsFinalChunk() {
        assertThat(scan(SSE, OPENAI_STREAM)).isEqualTo(new TokenUsage(9, 2));
    }

    @Test
    void anAnthropicStreamTakesInputFromMessageStartAndTheLastOutputFromMessageDelta() {
        String stream = """
                event: message_start
                data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":25,"cache_read_input_tokens":5,"output_tokens":1}}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

                event: ping
                data: {"type": "ping"}

                event: message_delta
                data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}}

                event: message_delta
                data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}

                event: message_stop
                data: {"type":"message_stop"}

                """;
        assertThat(scan(SSE, stream)).isEqualTo(new TokenUsage(30, 15));
    }

    @Test
    void aResponsesApiStreamReportsTheUsageOfResponseCompleted() {
        String stream = """
                event: response.created
                data: {"type":"response.created","response":{"id":"resp_1","status":"in_progress","usage":null}}

                event: response.output_text.delta
                data: {"type":"response.output_text.delta","delta":"Hi"}

                event: response.completed
                data: {"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":40,"output_tokens":8,"total_tokens":48}}}

                """;
        assertThat(scan(SSE, stream)).isEqualTo(new TokenUsage(40, 8));
    }

    @Test
    void eventLinesMaySplitJsonAndEndInCrLfOrCr() {
        String crlf = "data: {\"usage\":\r\ndata: {\"prompt_tokens\":3,\r\ndata:\"completion_tokens\":4}}\r\n\r\n";
        assertThat(scan(SSE, crlf)).isEqualTo(new TokenUsage(3, 4));
        String cr = "data:{\"usage\":{\"prompt_tokens\":5}}\r\rdata:{\"usage\":{\"completion_tokens\":6}}\r\r";
        assertThat(scan(SSE, cr)).isEqualTo(new TokenUsage(5, 6));
    }

    @Test
    void onlyDataFieldsAreRead() {
        String stream = """
                : {"usage":{"prompt_tokens":1}}

                event: {"usage":{"prompt_tokens":2}}

                id: {"usage":{"prompt_tokens":3}}

                datum: {"usage":{"prompt_tokens":4}}

                 data: {"usage":{"prompt_tokens":5}}

                data: {"ok": true}

                """;
        assertThat(scan(SSE, stream)).isEqualTo(TokenUsage.UNKNOWN);
    }

    @Test
    void eachEventIsItsOwnDocumentSoABrokenEventDoesNotSpoilTheNext() {
        String stream = "data: {\"usage\": ]\n\ndata: not json\n\ndata: {\"usage\": {\"prompt_tokens\": 8}}\n\n";
        assertThat(scan(SSE, stream)).isEqualTo(new TokenUsage(8, -1));
    }

    @Test
    void dataDoneEndsTheScan() {
        ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(SSE, null);
        byte[] body = utf8(OPENAI_STREAM + "data: {\"usage\":{\"prompt_tokens\":1000}}\n\n");
        scanner.feed(body, 0, body.length);
        assertThat(scanner.finished()).isTrue();
        assertThat(scanner.usage()).isEqualTo(new TokenUsage(9, 2));

        byte[] notDone = utf8("data: [DONE]x\n\ndata: {\"x\": \"[DONE]\"}\n\ndata: {\"usage\":{\"prompt_tokens\":1}}\n\n");
        ResponseUsageScanner goesOn = ResponseUsageScanner.forResponse(SSE, null);
        goesOn.feed(notDone, 0, notDone.length);
        assertThat(goesOn.finished()).isFalse();
        assertThat(goesOn.usage()).isEqualTo(new TokenUsage(1, -1));
    }

    @Test
    void nestingDeeperThanTheTokenizerTracksStopsTheDocumentSafely() {
        String deep = "[".repeat(JsonPathTokenizer.MAX_DEPTH + 1) + "]".repeat(JsonPathTokenizer.MAX_DEPTH + 1);
        assertThat(scan(JSON, "{\"x\": " + deep + ", \"usage\": {\"prompt_tokens\": 5}}")).isEqualTo(TokenUsage.UNKNOWN);
        String deepButAllowed = "[".repeat(JsonPathTokenizer.MAX_DEPTH - 1) + "]".repeat(JsonPathTokenizer.MAX_DEPTH - 1);
        assertThat(scan(JSON, "{\"x\": " + deepButAllowed + ", \"usage\": {\"prompt_tokens\": 5}}"))
                .isEqualTo(new TokenUsage(5, -1));
    }

    @Test
    void theStreamIsReadWhateverTheChunkBoundaries() {
        byte[] body = utf8(OPENAI_STREAM);
        for (int split = 0; split <= body.length; split++) {
            ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(SSE, null);
            scanner.feed(body, 0, split);
            scanner.feed(body, split, body.length - split);
            assertThat(scanner.usage()).as("split at byte %d", split).isEqualTo(new TokenUsage(9, 2));
        }
    }

    // ---- large bodies ---------------------------------------------------------------------------

    @Test
    void aMultiMegabyteJsonBodyFedOneByteAtATimeOrInRandomChunksIsReadWithoutKeepingIt() {
        byte[] body = utf8("{\"choices\": [{\"message\": {\"content\": \"" + "long answer \\\" ".repeat(400_000)
                + "\"}}], \"usage\": {\"prompt_tokens\": 1000, \"completion_tokens\": 2000000}}");
        assertThat(body.length).isGreaterThan(6_000_000);
        warmUp(JSON, body);

        long before = allocatedBytes();
        ResponseUsageScanner oneByte = ResponseUsageScanner.forResponse(JSON, null);
        for (int i = 0; i < body.length; i++) {
            oneByte.feed(body, i, 1);
        }
        long allocated = allocatedBytes() - before;
        assertThat(oneByte.usage()).isEqualTo(new TokenUsage(1000, 2_000_000));
        assertThat(allocated).as("bytes allocated while scanning a %d-byte body", body.length).isLessThan(256 * 1024);

        assertThat(feedRandomly(JSON, body, 42)).isEqualTo(new TokenUsage(1000, 2_000_000));
    }

    @Test
    void aMultiMegabyteStreamFedOneByteAtATimeOrInRandomChunksIsReadWithoutKeepingIt() {
        StringBuilder stream = new StringBuilder();
        String chunk = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"content\":\"" + "token ".repeat(200) + "\"}}],\"usage\":null}\n\n";
        while (stream.length() < 5_000_000) {
            stream.append(chunk);
        }
        stream.append("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":77,\"completion_tokens\":88}}\n\ndata: [DONE]\n\n");
        byte[] body = utf8(stream.toString());
        warmUp(SSE, body);

        long before = allocatedBytes();
        ResponseUsageScanner oneByte = ResponseUsageScanner.forResponse(SSE, null);
        for (int i = 0; i < body.length; i++) {
            oneByte.feed(body, i, 1);
        }
        long allocated = allocatedBytes() - before;
        assertThat(oneByte.usage()).isEqualTo(new TokenUsage(77, 88));
        // Keys of each event's top level are decoded to Strings; the body itself is never copied.
        assertThat(allocated).as("bytes allocated while scanning a %d-byte stream", body.length).isLessThan(body.length / 4);

        assertThat(feedRandomly(SSE, body, 43)).isEqualTo(new TokenUsage(77, 88));
    }

    // ---- Content-Encoding -----------------------------------------------------------------------

    @Test
    void gzipBodiesAreDecodedAsTheyArrive() throws IOException {
        byte[] gzipped = gzip(utf8(CHAT_COMPLETION));
        ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(JSON, "gzip");
        for (int i = 0; i < gzipped.length; i++) {
            scanner.feed(gzipped, i, 1);
        }
        assertThat(scanner.usage()).isEqualTo(new TokenUsage(12, 3));
        scanner.close();

        byte[] stream = gzip(utf8(OPENAI_STREAM));
        try (ResponseUsageScanner sse = ResponseUsageScanner.forResponse(SSE, "x-gzip")) {
            sse.feed(stream, 0, stream.length);
            assertThat(sse.usage()).isEqualTo(new TokenUsage(9, 2));
        }
    }

    @Test
    void gzipHeadersWithEveryOptionalFieldAreSkipped() {
        byte[] body = utf8(CHAT_COMPLETION);
        byte[] gzipped = gzipWithAllHeaderFields(body);
        for (int split = 0; split <= 40; split++) {
            try (ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(JSON, "gzip")) {
                scanner.feed(gzipped, 0, split);
                scanner.feed(gzipped, split, gzipped.length - split);
                assertThat(scanner.usage()).as("split at byte %d", split).isEqualTo(new TokenUsage(12, 3));
            }
        }
    }

    @Test
    void aMultiMegabyteGzipBodyIsDecodedWithBoundedBuffers() throws IOException {
        byte[] body = utf8("{\"data\": [" + "{\"embedding\": [0.0023064255, -0.009327292, 0.015797347]},".repeat(100_000)
                + "{}], \"usage\": {\"prompt_tokens\": 8, \"total_tokens\": 8}}");
        byte[] gzipped = gzip(body);
        assertThat(feedRandomly(JSON, "gzip", gzipped, 44)).isEqualTo(new TokenUsage(8, -1));
    }

    @Test
    void deflateBodiesAreDecoded() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeflaterOutputStream z = new DeflaterOutputStream(out)) {
            z.write(utf8(CHAT_COMPLETION));
        }
        byte[] zlib = out.toByteArray();
        try (ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(JSON, "deflate")) {
            scanner.feed(zlib, 0, zlib.length);
            assertThat(scanner.usage()).isEqualTo(new TokenUsage(12, 3));
        }
    }

    @Test
    void aDamagedGzipBodyReportsUnknownWithoutAnError() throws IOException {
        byte[] gzipped = gzip(utf8(CHAT_COMPLETION));
        byte[] notGzip = utf8(CHAT_COMPLETION);
        byte[] badCrc = gzipped.clone();
        badCrc[badCrc.length - 8] ^= 0x01;
        gzipped[gzipped.length / 2] ^= 0x55;
        for (byte[] body : new byte[][] {gzipped, notGzip, badCrc}) {
            try (ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(JSON, "gzip")) {
                scanner.feed(body, 0, body.length);
                assertThat(scanner.usage()).isEqualTo(TokenUsage.UNKNOWN);
                assertThat(scanner.finished()).isTrue();
            }
        }
    }

    @ParameterizedTest(name = "Content-Type {0}, Content-Encoding {1}: {2}")
    @CsvSource(nullValues = "-", value = {
        "application/json,                 -,         JSON",
        "application/json; charset=utf-8,  identity,  JSON",
        "text/event-stream; charset=utf-8, -,         EVENT_STREAM",
        "Text/Event-Stream,                gzip,      EVENT_STREAM",
        "text/plain,                       -,         OTHER",
        "-,                                -,         OTHER",
        "application/json,                 br,        OTHER",
        "application/json,                 zstd,      OTHER",
        "application/json,                 'gzip, br', OTHER",
    })
    void whatIsScannedDependsOnContentTypeAndEncoding(String contentType, String contentEncoding,
                                                      ResponseUsageScanner.Format expected) {
        ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(contentType, contentEncoding);
        assertThat(scanner.format()).isEqualTo(expected);
        if (expected == ResponseUsageScanner.Format.OTHER) {
            byte[] body = utf8(CHAT_COMPLETION);
            scanner.feed(body, 0, body.length);
            assertThat(scanner.usage()).isEqualTo(TokenUsage.UNKNOWN);
            assertThat(scanner.finished()).isTrue();
        }
        scanner.close();
    }

    @Test
    void readsHeapAndDirectByteBufsWithoutMovingTheirReaderIndex() {
        byte[] body = utf8(OPENAI_STREAM);
        ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(SSE, null);
        ByteBuf heap = Unpooled.wrappedBuffer(body, 0, body.length / 2);
        ByteBuf direct = Unpooled.directBuffer().writeBytes(body, body.length / 2, body.length - body.length / 2);
        scanner.feed(heap);
        scanner.feed(direct);
        assertThat(heap.readerIndex()).isZero();
        assertThat(direct.readerIndex()).isZero();
        assertThat(scanner.usage()).isEqualTo(new TokenUsage(9, 2));
        direct.release();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static TokenUsage scan(String contentType, String body) {
        try (ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(contentType, null)) {
            byte[] bytes = utf8(body);
            scanner.feed(bytes, 0, bytes.length);
            return scanner.usage();
        }
    }

    private static TokenUsage feedRandomly(String contentType, byte[] body, long seed) {
        return feedRandomly(contentType, null, body, seed);
    }

    private static TokenUsage feedRandomly(String contentType, String encoding, byte[] body, long seed) {
        Random random = new Random(seed);
        try (ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(contentType, encoding)) {
            int i = 0;
            while (i < body.length) {
                int n = Math.min(1 + random.nextInt(random.nextBoolean() ? 16 : 20_000), body.length - i);
                ByteBuf chunk = Unpooled.directBuffer(n).writeBytes(body, i, n);
                scanner.feed(chunk);
                chunk.release();
                i += n;
            }
            return scanner.usage();
        }
    }

    private static void warmUp(String contentType, byte[] body) {
        try (ResponseUsageScanner scanner = ResponseUsageScanner.forResponse(contentType, null)) {
            for (int i = 0; i < Math.min(body.length, 200_000); i++) {
                scanner.feed(body, i, 1);
            }
        }
    }

    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        return threads.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    private static byte[] gzip(byte[] body) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(body);
        }
        return out.toByteArray();
    }

    /** A gzip member with FEXTRA, FNAME, FCOMMENT and FHCRC set, as RFC 1952 allows. */
    private static byte[] gzipWithAllHeaderFields(byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3});
        out.writeBytes(new byte[] {5, 0, 'A', 'B', 1, 0, 'x'});
        out.writeBytes(utf8("usage.json\0"));
        out.writeBytes(utf8("{\"usage\": {\"prompt_tokens\": 1}}\0"));
        out.writeBytes(new byte[] {0x12, 0x34});
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        deflater.setInput(body);
        deflater.finish();
        byte[] buf = new byte[body.length + 64];
        int n = deflater.deflate(buf);
        deflater.end();
        out.write(buf, 0, n);
        CRC32 crc = new CRC32();
        crc.update(body);
        long c = crc.getValue();
        out.writeBytes(new byte[] {(byte) c, (byte) (c >> 8), (byte) (c >> 16), (byte) (c >> 24),
            (byte) body.length, (byte) (body.length >> 8), (byte) (body.length >> 16), (byte) (body.length >> 24)});
        return out.toByteArray();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
