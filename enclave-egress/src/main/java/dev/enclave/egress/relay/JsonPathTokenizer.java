package dev.enclave.egress.relay;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A push tokenizer for one JSON document that is fed bytes in any chunks and keeps only bounded
 * state: the container stack (object or array, at most {@link #MAX_DEPTH} deep), the keys of the
 * first {@link #TRACKED_DEPTH} object levels, and the one value the {@link Handler} asked for.
 * Every other string is skipped byte by byte without being stored, however long it is.
 *
 * <p>It is lenient where leniency cannot change a path (it does not check number syntax or
 * literal spelling) and stops at the first byte that breaks the structure: after that it
 * reports nothing more, so a malformed body can never produce a value at the wrong path.
 * Key escapes ({@code "mod\u0065l"}) are decoded before keys are compared, as a JSON parser would.
 */
final class JsonPathTokenizer {
    /** Containers nested deeper than this stop the tokenizer; real API bodies stay far below it. */
    static final int MAX_DEPTH = 256;
    /** Object levels whose keys are remembered; paths are compared only this deep. */
    static final int TRACKED_DEPTH = 3;
    private static final int MAX_KEY_BYTES = 64;
    private static final int MAX_VALUE_BYTES = 256;
    private static final int MAX_LITERAL_BYTES = 24;

    /** Told about values whose key path is within the tracked depth. */
    interface Handler {
        /**
         * A value starts in an object at {@code depth} (1 = the top-level object), under
         * {@code keys[1..depth]} (a null key was too long to remember). Return true to receive
         * it through {@link #onString} or {@link #onNumber} if it turns out to be a string or a number.
         */
        boolean valueStarts(int depth, String[] keys);

        /** The wanted value was a string; null when it was longer than 256 bytes. */
        void onString(int depth, String[] keys, String value);

        /** The wanted value was a number (or a bare literal), as written. */
        void onNumber(int depth, String[] keys, String text);
    }

    private enum State {
        VALUE, ARRAY_FIRST, OBJECT_FIRST, OBJECT_NEXT, KEY, COLON, STRING, LITERAL, AFTER_VALUE, DONE, FAILED
    }

    private final Handler handler;
    private final boolean[] isObject = new boolean[MAX_DEPTH + 1];
    private final String[] keys = new String[TRACKED_DEPTH + 1];
    private final byte[] capture = new byte[MAX_VALUE_BYTES + 8];
    private int captured;
    private boolean capturing;
    private boolean overflow;
    private int depth;
    private State state = State.VALUE;
    /** Inside a string: 0 plain, 1 after a backslash, 2..5 reading the hex digits of a \\u escape. */
    private int escape;
    private int unicode;
    private int highSurrogate = -1;
    private int captureLimit;

    JsonPathTokenizer(Handler handler) {
        this.handler = handler;
    }

    /** Forgets everything, ready for a new document (each server-sent event is one). */
    void reset() {
        depth = 0;
        state = State.VALUE;
        escape = 0;
        capturing = false;
        Arrays.fill(keys, null);
    }

    /** True once the top-level value has ended or the input broke the structure; further bytes are ignored. */
    boolean finished() {
        return state == State.DONE || state == State.FAILED;
    }

    boolean failed() {
        return state == State.FAILED;
    }

    void feed(byte[] bytes, int offset, int length) {
        int end = offset + length;
        for (int i = offset; i < end && !finished(); i++) {
            if (state == State.STRING && escape == 0 && !capturing) {
                // Fast path through long strings nobody wants (prompts, completions, base64 images).
                while (i < end && bytes[i] != '"' && bytes[i] != '\\') {
                    i++;
                }
                if (i == end) {
                    return;
                }
            }
            step(bytes[i]);
        }
    }

    /** One byte; returns false once finished so a {@code ByteProcessor} can stop early. */
    boolean step(byte b) {
        switch (state) {
            case VALUE -> value(b);
            case ARRAY_FIRST -> {
                if (b == ']') {
                    close(false);
                } else if (!whitespace(b)) {
                    state = State.VALUE;
                    value(b);
                }
            }
            case OBJECT_FIRST, OBJECT_NEXT -> {
                if (b == '"') {
                    state = State.KEY;
                    startString(depth <= TRACKED_DEPTH, MAX_KEY_BYTES);
                } else if (b == '}' && state == State.OBJECT_FIRST) {
                    close(true);
                } else if (!whitespace(b)) {
                    state = State.FAILED;
                }
            }
            case KEY, STRING -> string(b);
            case COLON -> {
                if (b == ':') {
                    state = State.VALUE;
                } else if (!whitespace(b)) {
                    state = State.FAILED;
                }
            }
            case LITERAL -> {
                if (literalByte(b)) {
                    collect(b);
                } else {
                    if (capturing) {
                        handler.onNumber(depth, keys, overflow ? null : text());
                        capturing = false;
                    }
                    state = State.AFTER_VALUE;
                    afterValue(b);
                }
            }
            case AFTER_VALUE -> afterValue(b);
            default -> {
                // DONE or FAILED: nothing more to learn from this document.
            }
        }
        return !finished();
    }

    private void value(byte b) {
        if (whitespace(b)) {
            return;
        }
        boolean wanted = depth >= 1 && depth <= TRACKED_DEPTH && isObject[depth] && handler.valueStarts(depth, keys);
        switch (b) {
            case '{' -> open(true);
            case '[' -> open(false);
            case '"' -> {
                state = State.STRING;
                startString(wanted, MAX_VALUE_BYTES);
            }
            default -> {
                if (!literalByte(b)) {
                    state = State.FAILED;
                    return;
                }
                state = State.LITERAL;
                capturing = wanted;
                captured = 0;
                overflow = false;
                captureLimit = MAX_LITERAL_BYTES;
                collect(b);
            }
        }
    }

    private void open(boolean object) {
        if (depth == MAX_DEPTH) {
            state = State.FAILED;
            return;
        }
        depth++;
        isObject[depth] = object;
        if (depth <= TRACKED_DEPTH) {
            keys[depth] = null;
        }
        state = object ? State.OBJECT_FIRST : State.ARRAY_FIRST;
    }

    private void close(boolean object) {
        if (depth == 0 || isObject[depth] != object) {
            state = State.FAILED;
            return;
        }
        depth--;
        state = depth == 0 ? State.DONE : State.AFTER_VALUE;
    }

    private void afterValue(byte b) {
        if (whitespace(b)) {
            return;
        }
        if (depth == 0) {
            state = State.DONE;
        } else if (b == ',') {
            state = isObject[depth] ? State.OBJECT_NEXT : State.VALUE;
        } else if (b == '}' || b == ']') {
            close(b == '}');
        } else {
            state = State.FAILED;
        }
    }

    private void startString(boolean capture, int limit) {
        capturing = capture;
        captured = 0;
        overflow = false;
        escape = 0;
        highSurrogate = -1;
        captureLimit = limit;
    }

    private void string(byte b) {
        if (escape == 1) {
            escape = 0;
            if (b != 'u') {
                flushSurrogate();
            }
            switch (b) {
                case '"', '\\', '/' -> collect(b);
                case 'b' -> collect((byte) '\b');
                case 'f' -> collect((byte) '\f');
                case 'n' -> collect((byte) '\n');
                case 'r' -> collect((byte) '\r');
                case 't' -> collect((byte) '\t');
                case 'u' -> {
                    escape = 2;
                    unicode = 0;
                }
                default -> state = State.FAILED;
            }
            return;
        }
        if (escape >= 2) {
            int digit = Character.digit(b, 16);
            if (digit < 0) {
                state = State.FAILED;
                return;
            }
            unicode = unicode << 4 | digit;
            if (++escape == 6) {
                escape = 0;
                codeUnit(unicode);
            }
            return;
        }
        if (b == '\\') {
            escape = 1;
            return;
        }
        flushSurrogate();
        if (b == '"') {
            endString();
        } else if ((b & 0xff) < 0x20) {
            state = State.FAILED;
        } else {
            collect(b);
        }
    }

    private void endString() {
        if (state == State.KEY) {
            if (depth <= TRACKED_DEPTH) {
                keys[depth] = overflow ? null : text();
            }
            capturing = false;
            state = State.COLON;
            return;
        }
        if (capturing) {
            handler.onString(depth, keys, overflow ? null : text());
            capturing = false;
        }
        state = State.AFTER_VALUE;
    }

    /** A UTF-16 code unit from a {@code \\u} escape; pairs are joined before being stored as UTF-8. */
    private void codeUnit(int unit) {
        if (Character.isHighSurrogate((char) unit)) {
            flushSurrogate();
            highSurrogate = unit;
        } else if (Character.isLowSurrogate((char) unit) && highSurrogate >= 0) {
            appendCodePoint(Character.toCodePoint((char) highSurrogate, (char) unit));
            highSurrogate = -1;
        } else {
            flushSurrogate();
            appendCodePoint(Character.isLowSurrogate((char) unit) ? 0xFFFD : unit);
        }
    }

    /** A high surrogate not followed by its low half stands for U+FFFD, as in a lenient decoder. */
    private void flushSurrogate() {
        if (highSurrogate >= 0) {
            highSurrogate = -1;
            appendCodePoint(0xFFFD);
        }
    }

    private void appendCodePoint(int cp) {
        if (!capturing) {
            return;
        }
        byte[] utf8 = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
        for (byte u : utf8) {
            collect(u);
        }
    }

    private void collect(byte b) {
        if (!capturing) {
            return;
        }
        if (captured >= captureLimit) {
            overflow = true;
            return;
        }
        capture[captured++] = b;
    }

    private String text() {
        return new String(capture, 0, captured, StandardCharsets.UTF_8);
    }

    private static boolean whitespace(byte b) {
        return b == ' ' || b == '\n' || b == '\r' || b == '\t';
    }

    /** Bytes of numbers and of true, false, null. */
    private static boolean literalByte(byte b) {
        return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b == '-' || b == '+' || b == '.' || b == 'E';
    }
}
