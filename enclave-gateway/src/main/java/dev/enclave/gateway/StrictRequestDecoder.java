package dev.enclave.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpConstants;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.List;

/**
 * Netty's request decoder, which also refuses obsolete line folding (a header line that starts
 * with a space or tab to continue the one before). Netty joins such lines silently and has no
 * option to refuse them; another parser that reads them differently could be shown a header the
 * gateway never checked. A folded head becomes a failed request (the request guard answers 400
 * and closes), and nothing after it on the connection is decoded.
 *
 * <p>Why this cannot drift from the decoder's own framing: it does not parse HTTP itself. Each
 * call to the decoder, while it is reading a head, consumes whole head lines and nothing beyond
 * the head (Netty returns as soon as a head is complete, so the body is always read by a later
 * call). This class only looks at the bytes such a call consumed, and knows the decoder is back
 * at a head because the decoder itself emitted the {@link LastHttpContent} that ends a request.
 * Trailer fields of a chunked body are outside this check (Netty unfolds them, which RFC 9112
 * allows; they never carry framing).
 */
final class StrictRequestDecoder extends HttpRequestDecoder {
    /** The message a folded head fails with; it names the cause for the 400 body. */
    static final String FOLDED = "obsolete line folding in a header (a line starting with a space or tab); send each header on one line";

    private boolean readingHead = true;
    private boolean lineJustEnded;
    private boolean stopped;

    /**
     * Strict line parsing (bare CR or LF, NUL), header name and value validation, RFC 9112
     * transfer-encoding rules (Content-Length with Transfer-Encoding, differing repeated
     * Content-Length), and heads of at most {@code maxHeadBytes}.
     */
    StrictRequestDecoder(int maxHeadBytes) {
        super(new HttpDecoderConfig()
                .setMaxInitialLineLength(8192)
                .setMaxHeaderSize(maxHeadBytes)
                .setMaxChunkSize(64 * 1024)
                .setValidateHeaders(true)
                .setStrictLineParsing(true)
                .setAllowDuplicateContentLengths(false)
                .setUseRfc9112TransferEncoding(true));
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
        if (stopped) {
            buffer.skipBytes(buffer.readableBytes());
            return;
        }
        boolean scan = readingHead;
        int from = buffer.readerIndex();
        int emitted = out.size();
        super.decode(ctx, buffer, out);
        if (scan && folded(buffer, from, buffer.readerIndex())) {
            refuse(out, emitted);
            buffer.skipBytes(buffer.readableBytes());
            return;
        }
        for (int i = emitted; i < out.size(); i++) {
            Object o = out.get(i);
            if (o instanceof HttpObject h && h.decoderResult().isFailure()) {
                stopped = true; // the decoder discards the rest itself; nothing more to check
            }
            if (o instanceof HttpMessage) {
                readingHead = false;
            }
            if (o instanceof LastHttpContent) {
                readingHead = true;
                lineJustEnded = false;
            }
        }
    }

    /** True when a line in {@code [from, to)} of the head starts with SP or HTAB. Remembers a line end at {@code to}. */
    private boolean folded(ByteBuf head, int from, int to) {
        if (from == to) {
            return false;
        }
        if (lineJustEnded && isFoldStart(head.getByte(from))) {
            return true;
        }
        int i = from;
        while (i < to) {
            int lf = head.indexOf(i, to, HttpConstants.LF);
            if (lf < 0) {
                break;
            }
            if (lf + 1 < to && isFoldStart(head.getByte(lf + 1))) {
                return true;
            }
            i = lf + 1;
        }
        lineJustEnded = head.getByte(to - 1) == HttpConstants.LF;
        return false;
    }

    private static boolean isFoldStart(byte b) {
        return b == HttpConstants.SP || b == HttpConstants.HT;
    }

    /** Replaces what this call decoded with one failed request: the head it came from was folded. */
    private void refuse(List<Object> out, int emitted) {
        HttpMessage failed = null;
        while (out.size() > emitted) {
            Object o = out.remove(out.size() - 1);
            if (o instanceof HttpMessage m) {
                failed = m;
            } else {
                ReferenceCountUtil.release(o);
            }
        }
        if (failed == null) {
            failed = createInvalidMessage();
        }
        failed.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(FOLDED)));
        out.add(failed);
        stopped = true;
    }
}
