package dev.enclave.egress.relay;

import io.netty.buffer.ByteBuf;
import java.util.Locale;

/**
 * Finds the {@code "model"} of an API call in its request body as the body streams past, for the
 * usage audit. Only the top-level object's own {@code "model"} member counts ({@code {"model":
 * "gpt-4o", "metadata": {"model": "x"}}} is {@code gpt-4o}); its key may be escaped or split across
 * chunks. When the key appears twice the last one wins, as in the JSON parsers API servers use.
 *
 * <p>Memory is bounded (a few hundred bytes whatever the body) and so is work: the scan stops at
 * the end of the top-level object or after {@link #DEFAULT_SCAN_BYTES} (64 KiB), so a request with
 * a large image pays nothing past it. A {@code "model"} member placed after that point, or a second
 * one placed there, is not seen; the model is then what was seen before it, or unknown.
 *
 * <p>Not thread-safe: one scanner per request, fed from one event loop.
 */
public final class RequestModelScanner {
    public static final int DEFAULT_SCAN_BYTES = 64 * 1024;

    private final JsonPathTokenizer tokenizer;
    private final BodyChunks chunks = new BodyChunks();
    private final boolean active;
    private long remaining;
    private String model;

    /** Scans a JSON body, up to 64 KiB. */
    public RequestModelScanner() {
        this(DEFAULT_SCAN_BYTES);
    }

    /** Scans a JSON body, up to {@code maxScanBytes}. */
    public RequestModelScanner(int maxScanBytes) {
        this(true, maxScanBytes);
    }

    private RequestModelScanner(boolean active, int maxScanBytes) {
        if (maxScanBytes < 1) {
            throw new IllegalArgumentException("maxScanBytes: " + maxScanBytes + " (expected: at least 1)");
        }
        this.active = active;
        this.remaining = maxScanBytes;
        this.tokenizer = new JsonPathTokenizer(new JsonPathTokenizer.Handler() {
            @Override
            public boolean valueStarts(int depth, String[] keys) {
                if (depth == 1 && "model".equals(keys[1])) {
                    model = null; // a later member replaces an earlier one, even when it is not a string
                    return true;
                }
                return false;
            }

            @Override
            public void onString(int depth, String[] keys, String value) {
                model = value;
            }

            @Override
            public void onNumber(int depth, String[] keys, String text) {
                // "model": 4 is not a model name.
            }
        });
    }

    /**
     * A scanner for a request with these headers. A body that is not JSON (by its
     * {@code Content-Type}; a missing one is read as JSON, as the APIs do) or that is compressed
     * ({@code Content-Encoding} other than identity; clients do not compress requests) yields no model.
     */
    public static RequestModelScanner forRequest(String contentType, String contentEncoding) {
        boolean json = contentType == null || isJson(contentType);
        boolean identity = contentEncoding == null || contentEncoding.isBlank()
                || contentEncoding.trim().equalsIgnoreCase("identity");
        return new RequestModelScanner(json && identity, DEFAULT_SCAN_BYTES);
    }

    static boolean isJson(String contentType) {
        String type = mediaType(contentType);
        return type.equals("application/json") || type.startsWith("application/") && type.endsWith("+json");
    }

    /** The media type of a {@code Content-Type} value, lower case, without parameters (no split: this runs twice per call). */
    static String mediaType(String contentType) {
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).trim().toLowerCase(Locale.ROOT);
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
        int n = (int) Math.min(length, remaining);
        remaining -= n;
        tokenizer.feed(bytes, offset, n);
    }

    /** True when more bytes cannot change {@link #model()}. */
    public boolean finished() {
        return !active || remaining == 0 || tokenizer.finished();
    }

    /** The model named so far, or null when unknown (not JSON, no such member, not a string, longer than 256 bytes). */
    public String model() {
        return active && !tokenizer.failed() ? model : null;
    }
}
