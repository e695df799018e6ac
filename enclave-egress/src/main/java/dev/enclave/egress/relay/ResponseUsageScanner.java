package dev.enclave.egress.relay;

import io.netty.buffer.ByteBuf;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Reads the token counts of an API call from its response body as the body streams past, for the
 * usage audit and the token budget. Nothing is buffered: the body is tokenized incrementally and
 * only the counts, the container stack of the current JSON document and a few bytes of SSE line
 * state are kept, whatever the size of the body and however it is split into chunks.
 *
 * <p>Where the counts are:
 * <ul>
 *   <li>{@code application/json}: a {@code "usage"} object that is a member of the top-level
 *       object (Chat Completions, Responses, Anthropic Messages), or of its {@code "response"} or
 *       {@code "message"} member. A {@code "usage"} deeper down (inside a tool result, a choice,
 *       metadata) does not count.</li>
 *   <li>{@code text/event-stream}: every {@code data:} event is one such JSON document; the last
 *       count seen wins. OpenAI sends usage in the final chunk (with
 *       {@code stream_options.include_usage}), the Responses API in {@code response.completed}
 *       under {@code "response"}, Anthropic {@code input_tokens} in {@code message_start} under
 *       {@code "message"} and the running {@code output_tokens} in each {@code message_delta}.
 *       Non-JSON events are ignored; {@code data: [DONE]} ends the scan.</li>
 *   <li>Anything else (including error bodies without usage): {@link TokenUsage#UNKNOWN}.</li>
 * </ul>
 *
 * <p>{@code Content-Encoding}: identity is read as is; {@code gzip} and {@code deflate} are
 * decoded incrementally (the decoded bytes are only tokenized, never kept, so a highly
 * compressed body costs CPU, not memory); any other coding ({@code br}, {@code zstd}, several
 * codings) yields {@link TokenUsage#UNKNOWN}. A damaged compressed body (bad deflate data, or a
 * gzip CRC-32 or length that does not match what was decoded) also yields unknown: counts read
 * from bytes that fail their checksum prove nothing.
 *
 * <p>Not thread-safe: one scanner per response, fed from one event loop. Call {@link #close()}
 * when the response ends or is abandoned, to free the decoder's native memory at once.
 */
public final class ResponseUsageScanner implements AutoCloseable {
    /** How the body is framed. */
    public enum Format { JSON, EVENT_STREAM, OTHER }

    private static final String[] FIELDS = {
        "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
        "cache_creation_input_tokens", "cache_read_input_tokens"};
    private static final int PROMPT = 0;
    private static final int COMPLETION = 1;
    private static final int INPUT = 2;
    private static final int OUTPUT = 3;
    private static final int CACHE_CREATION = 4;
    private static final int CACHE_READ = 5;

    private final Format format;
    private final long[] counts = {-1, -1, -1, -1, -1, -1};
    private final JsonPathTokenizer tokenizer;
    private final BodyChunks chunks = new BodyChunks();
    private final EventStream events;
    private final Decoder decoder;

    private ResponseUsageScanner(Format format, Decoder decoder) {
        this.format = format;
        this.decoder = decoder;
        this.tokenizer = new JsonPathTokenizer(new UsagePaths());
        this.events = format == Format.EVENT_STREAM ? new EventStream() : null;
    }

    /**
     * A scanner for a response with these headers (either may be null). {@code Content-Type}
     * picks JSON or server-sent events; anything else is not scanned.
     */
    public static ResponseUsageScanner forResponse(String contentType, String contentEncoding) {
        Format format = formatOf(contentType);
        String coding = contentEncoding == null ? "identity" : contentEncoding.trim().toLowerCase(Locale.ROOT);
        Decoder decoder = switch (coding) {
            case "", "identity" -> null;
            case "gzip", "x-gzip" -> new Decoder(true);
            case "deflate" -> new Decoder(false);
            default -> {
                format = Format.OTHER;
                yield null;
            }
        };
        return new ResponseUsageScanner(format, decoder);
    }

    static Format formatOf(String contentType) {
        if (contentType == null) {
            return Format.OTHER;
        }
        String type = RequestModelScanner.mediaType(contentType);
        if (type.equals("text/event-stream")) {
            return Format.EVENT_STREAM;
        }
        return RequestModelScanner.isJson(contentType) ? Format.JSON : Format.OTHER;
    }

    public Format format() {
        return format;
    }

    /** The readable bytes of {@code body}; its reader index is left where it was. */
    public void feed(ByteBuf body) {
        if (!finished()) {
            chunks.feed(body, this::feed);
        }
    }

    public void feed(byte[] bytes, int offset, int length) {
        if (finished()) {
            return;
        }
        if (decoder != null) {
            decoder.decode(bytes, offset, length, this::decoded);
        } else {
            decoded(bytes, offset, length);
        }
    }

    private void decoded(byte[] bytes, int offset, int length) {
        if (format == Format.JSON) {
            tokenizer.feed(bytes, offset, length);
        } else if (format == Format.EVENT_STREAM) {
            events.feed(bytes, offset, length);
        }
    }

    /** True when more bytes cannot change {@link #usage()}. */
    public boolean finished() {
        return format == Format.OTHER
                || decoder != null && (decoder.corrupt || decoder.closed)
                || format == Format.JSON && tokenizer.finished()
                || format == Format.EVENT_STREAM && events.done;
    }

    /** The counts found so far; {@link TokenUsage#UNKNOWN} when none. */
    public TokenUsage usage() {
        if (decoder != null && decoder.corrupt) {
            return TokenUsage.UNKNOWN; // decoded bytes that fail their checksum prove nothing
        }
        long prompt = counts[PROMPT];
        if (prompt < 0 && counts[INPUT] >= 0) {
            // Anthropic counts cached prompt tokens apart from input_tokens; OpenAI never sends these two.
            prompt = counts[INPUT] + Math.max(counts[CACHE_CREATION], 0) + Math.max(counts[CACHE_READ], 0);
        }
        long completion = counts[COMPLETION] >= 0 ? counts[COMPLETION] : counts[OUTPUT];
        return new TokenUsage(prompt, completion);
    }

    /** Frees the decoder; the scanner reads nothing after this. */
    @Override
    public void close() {
        if (decoder != null) {
            decoder.close();
        }
    }

    /** {@code usage} under the top-level object, or under its {@code response} or {@code message}. */
    private final class UsagePaths implements JsonPathTokenizer.Handler {
        @Override
        public boolean valueStarts(int depth, String[] keys) {
            return field(depth, keys) >= 0;
        }

        @Override
        public void onString(int depth, String[] keys, String value) {
            // Counts are numbers; a string there is not one.
        }

        @Override
        public void onNumber(int depth, String[] keys, String text) {
            int field = field(depth, keys);
            if (field < 0 || text == null) {
                return;
            }
            try {
                long value = Long.parseLong(text);
                if (value >= 0) {
                    counts[field] = value;
                }
            } catch (NumberFormatException e) {
                // null, a fraction or an out-of-range number: not a count.
            }
        }

        private int field(int depth, String[] keys) {
            boolean usage = depth == 2 && "usage".equals(keys[1])
                    || depth == 3 && "usage".equals(keys[2]) && ("response".equals(keys[1]) || "message".equals(keys[1]));
            if (!usage) {
                return -1;
            }
            String name = keys[depth];
            for (int i = 0; i < FIELDS.length; i++) {
                if (FIELDS[i].equals(name)) {
                    return i;
                }
            }
            return -1;
        }
    }

    /**
     * Server-sent events, line by line: {@code data:} lines go to the tokenizer (lines of one
     * event joined by a newline, as the SSE spec joins them), a blank line ends the event.
     * Other fields ({@code event:}, {@code id:}, comments) are skipped.
     */
    private final class EventStream {
        private static final byte[] DATA = {'d', 'a', 't', 'a', ':'};
        private static final byte[] DONE = {'[', 'D', 'O', 'N', 'E', ']'};
        /** Bytes of "[DONE]" that the current data line consists of so far; -1 once it is something else. */
        private int doneMatch;
        /** Bytes of "data:" matched at the start of the current line; -1 once the line is known to be something else. */
        private int prefix;
        private boolean inData;
        private boolean afterPrefix;
        private boolean lastWasCr;
        private boolean lineEmpty = true;
        private boolean done;

        void feed(byte[] bytes, int offset, int length) {
            int end = offset + length;
            for (int i = offset; i < end && !done; i++) {
                byte b = bytes[i];
                if (b == '\n' && lastWasCr) {
                    lastWasCr = false;
                    continue;
                }
                lastWasCr = b == '\r';
                if (b == '\n' || b == '\r') {
                    endLine();
                    continue;
                }
                lineEmpty = false;
                if (inData) {
                    if (afterPrefix) {
                        afterPrefix = false;
                        if (b == ' ') {
                            continue;
                        }
                    }
                    // Hand over the run up to the end of the line in one call.
                    int j = i;
                    while (j < end && bytes[j] != '\n' && bytes[j] != '\r') {
                        if (doneMatch >= 0) {
                            doneMatch = doneMatch < DONE.length && bytes[j] == DONE[doneMatch] ? doneMatch + 1 : -1;
                        }
                        j++;
                    }
                    tokenizer.feed(bytes, i, j - i);
                    i = j - 1;
                } else if (prefix >= 0) {
                    if (b == DATA[prefix]) {
                        if (++prefix == DATA.length) {
                            inData = true;
                            afterPrefix = true;
                        }
                    } else {
                        prefix = -1;
                    }
                }
            }
        }

        private void endLine() {
            if (inData && doneMatch == DONE.length) {
                // OpenAI's end of stream: nothing after it can carry usage.
                done = true;
            }
            if (lineEmpty) {
                // A blank line dispatches the event: the next data line starts a new document.
                tokenizer.reset();
            } else if (inData) {
                tokenizer.feed(NEWLINE, 0, 1);
            }
            prefix = 0;
            doneMatch = 0;
            inData = false;
            afterPrefix = false;
            lineEmpty = true;
        }
    }

    private static final byte[] NEWLINE = {'\n'};

    /** Incremental gzip (RFC 1952 header, raw deflate body) or zlib-wrapped deflate decoding. */
    private static final class Decoder {
        /** Parts of a gzip header in order; the optional ones are present when their flag bit is set. */
        private enum Phase {
            FIXED(0), EXTRA_LENGTH(4), EXTRA(0), NAME(8), COMMENT(16), HEADER_CRC(2), BODY(0);

            final int flag;

            Phase(int flag) {
                this.flag = flag;
            }
        }

        private final boolean gzip;
        private final Inflater inflater;
        private final CRC32 crc = new CRC32();
        private final byte[] out = new byte[16 * 1024];
        private final byte[] trailer = new byte[8];
        private int trailerRead;
        private Phase phase;
        private int flags;
        private int count;
        private int extraLeft;
        /** Not gzip or deflate, or damaged (bad header, bad deflate data, checksum or length mismatch). */
        private boolean corrupt;
        private boolean closed;

        Decoder(boolean gzip) {
            this.gzip = gzip;
            this.inflater = new Inflater(gzip);
            this.phase = gzip ? Phase.FIXED : Phase.BODY;
        }

        void decode(byte[] bytes, int offset, int length, BodyChunks.Sink sink) {
            int i = offset;
            int end = offset + length;
            while (phase != Phase.BODY && i < end && !corrupt) {
                header(bytes[i++] & 0xff);
            }
            if (corrupt || closed || i == end) {
                return;
            }
            if (inflater.finished()) {
                trailer(bytes, i, end);
                return;
            }
            inflater.setInput(bytes, i, end - i);
            try {
                while (!inflater.finished() && !inflater.needsInput()) {
                    int n = inflater.inflate(out);
                    if (n > 0) {
                        crc.update(out, 0, n);
                        sink.feed(out, 0, n);
                    } else if (inflater.needsDictionary()) {
                        corrupt = true;
                        return;
                    }
                }
            } catch (DataFormatException e) {
                // zlib's own Adler-32 check ends up here too.
                corrupt = true;
                return;
            }
            if (inflater.finished()) {
                trailer(bytes, end - inflater.getRemaining(), end);
            }
        }

        /** gzip's CRC-32 and length of the decoded bytes; bytes after them (a second member) are ignored. */
        private void trailer(byte[] bytes, int from, int end) {
            if (!gzip) {
                return;
            }
            for (int i = from; i < end && trailerRead < 8; i++) {
                trailer[trailerRead++] = bytes[i];
            }
            if (trailerRead == 8) {
                trailerRead++;
                long expectedCrc = le32(0);
                long expectedSize = le32(4);
                if (expectedCrc != crc.getValue() || expectedSize != (inflater.getBytesWritten() & 0xffffffffL)) {
                    corrupt = true;
                }
            }
        }

        private long le32(int at) {
            return (trailer[at] & 0xffL) | (trailer[at + 1] & 0xffL) << 8 | (trailer[at + 2] & 0xffL) << 16
                    | (trailer[at + 3] & 0xffL) << 24;
        }

        private void header(int v) {
            switch (phase) {
                case FIXED -> {
                    if (count == 0 && v != 0x1f || count == 1 && v != 0x8b || count == 2 && v != 8
                            || count == 3 && (v & 0xe0) != 0) {
                        corrupt = true; // not gzip, or reserved flags set
                    }
                    if (count == 3) {
                        flags = v;
                    }
                    if (++count == 10) {
                        advance();
                    }
                }
                case EXTRA_LENGTH -> {
                    extraLeft |= v << (8 * count);
                    if (++count == 2) {
                        if (extraLeft == 0) {
                            phase = Phase.EXTRA;
                            advance();
                        } else {
                            phase = Phase.EXTRA;
                        }
                    }
                }
                case EXTRA -> {
                    if (--extraLeft == 0) {
                        advance();
                    }
                }
                case NAME, COMMENT -> {
                    if (v == 0) {
                        advance();
                    }
                }
                case HEADER_CRC -> {
                    if (++count == 2) {
                        advance();
                    }
                }
                default -> {
                }
            }
        }

        /** Moves to the next part the flags announce, or to the body. */
        private void advance() {
            count = 0;
            Phase[] phases = Phase.values();
            for (int i = phase.ordinal() + 1; i < phases.length; i++) {
                Phase next = phases[i];
                if (next == Phase.BODY || next != Phase.EXTRA && (flags & next.flag) != 0) {
                    phase = next;
                    return;
                }
            }
        }

        void close() {
            inflater.end();
            closed = true;
        }
    }
}
