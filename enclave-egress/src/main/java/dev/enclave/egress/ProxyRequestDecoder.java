package dev.enclave.egress;

import dev.enclave.egress.policy.Reason;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Reads exactly one request head and emits a {@link ProxyRequest} or a {@link RequestError},
 * then nothing more: bytes after the head stay in this decoder until the pipeline replaces it,
 * so nothing sent after a CONNECT is ever parsed as HTTP.
 *
 * <p>Strict on purpose (a proxy that guesses is a proxy that can be confused): the request line is
 * {@code METHOD SP target SP HTTP/1.x CRLF} with single spaces and an upper-case method; lines end in
 * CRLF, never a bare LF; header names are tokens with no space before the colon; obs-fold, control
 * characters and NUL are refused. The whole head must arrive within {@code maxHeadBytes} and
 * {@code headTimeoutMillis} (slowloris).
 */
final class ProxyRequestDecoder extends ByteToMessageDecoder {
    private static final Set<String> METHODS = Set.of(
            "CONNECT", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE");
    private static final int MAX_HEADERS = 100;

    private final int maxHeadBytes;
    private final long headTimeoutMillis;
    private int scanned;
    private boolean done;
    private ScheduledFuture<?> timeout;

    ProxyRequestDecoder(int maxHeadBytes, long headTimeoutMillis) {
        this.maxHeadBytes = maxHeadBytes;
        this.headTimeoutMillis = headTimeoutMillis;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        timeout = ctx.executor().schedule(() -> {
            if (!done) {
                finish(ctx);
                ctx.fireChannelRead(new RequestError(Reason.HEAD_TIMEOUT,
                        "no complete head after " + headTimeoutMillis + " ms"));
            }
        }, headTimeoutMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        cancelTimeout();
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (done) {
            return; // hold the bytes for whatever replaces this decoder
        }
        int start = in.readerIndex();
        int end = in.writerIndex();
        for (int i = start + scanned; i < end; i++) {
            byte b = in.getByte(i);
            if (b == 0) {
                fail(ctx, in, out, Reason.BAD_REQUEST, "NUL byte in request head");
                return;
            }
            if (b == '\n') {
                if (i == start || in.getByte(i - 1) != '\r') {
                    fail(ctx, in, out, Reason.BAD_REQUEST, "line ends with a bare LF; use CRLF");
                    return;
                }
                if (i - start >= 3 && in.getByte(i - 2) == '\n' && in.getByte(i - 3) == '\r') {
                    int length = i + 1 - start;
                    byte[] head = new byte[length - 4];
                    in.getBytes(start, head);
                    in.skipBytes(length);
                    finish(ctx);
                    out.add(parse(head));
                    return;
                }
            }
            if (i + 1 - start > maxHeadBytes) {
                fail(ctx, in, out, Reason.HEAD_TOO_LARGE, "head exceeds " + maxHeadBytes + " bytes");
                return;
            }
        }
        scanned = end - start;
        if (scanned > maxHeadBytes) {
            fail(ctx, in, out, Reason.HEAD_TOO_LARGE, "head exceeds " + maxHeadBytes + " bytes");
        }
    }

    static Object parse(byte[] head) {
        String text = new String(head, StandardCharsets.ISO_8859_1);
        int lineEnd = lineEnd(text, 0);
        String requestLine = text.substring(0, lineEnd);
        int sp1 = requestLine.indexOf(' ');
        int sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
        if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(' ', sp2 + 1) >= 0 || sp2 == sp1 + 1) {
            return new RequestError(Reason.BAD_REQUEST, "request line must be METHOD SP target SP HTTP/1.1");
        }
        String version = requestLine.substring(sp2 + 1);
        if (!version.equals("HTTP/1.1") && !version.equals("HTTP/1.0")) {
            return new RequestError(Reason.BAD_REQUEST, "request line must be METHOD SP target SP HTTP/1.1");
        }
        String method = requestLine.substring(0, sp1);
        if (!isToken(method) || !method.equals(method.toUpperCase(java.util.Locale.ROOT))) {
            return new RequestError(Reason.BAD_REQUEST, "method must be an upper-case token");
        }
        if (!METHODS.contains(method)) {
            return new RequestError(Reason.METHOD_NOT_ALLOWED, "unknown method " + method);
        }
        String target;
        try {
            target = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(requestLine.substring(sp1 + 1, sp2).getBytes(StandardCharsets.ISO_8859_1)))
                    .toString();
        } catch (CharacterCodingException e) {
            return new RequestError(Reason.BAD_REQUEST, "request target is not valid UTF-8");
        }
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            if (c < 0x21 || c == 0x7f) {
                return new RequestError(Reason.BAD_REQUEST, "control character in request target");
            }
        }
        List<Map.Entry<String, String>> headers = new ArrayList<>();
        for (int start = lineEnd + 2; start <= text.length(); ) {
            int end = lineEnd(text, start);
            String line = text.substring(start, end);
            start = end + 2;
            if (line.isEmpty() || line.charAt(0) == ' ' || line.charAt(0) == '\t') {
                return new RequestError(Reason.BAD_REQUEST, "folded or empty header line (obs-fold is not accepted)");
            }
            int colon = line.indexOf(':');
            if (colon <= 0 || !isToken(line.substring(0, colon))) {
                return new RequestError(Reason.BAD_REQUEST, "malformed header line");
            }
            String value = line.substring(colon + 1).strip();
            for (int j = 0; j < value.length(); j++) {
                char c = value.charAt(j);
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                    return new RequestError(Reason.BAD_REQUEST, "control character in header value");
                }
            }
            if (headers.size() == MAX_HEADERS) {
                return new RequestError(Reason.HEAD_TOO_LARGE, "more than " + MAX_HEADERS + " header fields");
            }
            headers.add(new AbstractMap.SimpleImmutableEntry<>(line.substring(0, colon), value));
        }
        return new ProxyRequest(method, target, version.charAt(7) - '0', List.copyOf(headers));
    }

    /** Index of the CRLF ending the line that starts at {@code from}, or the text's end. */
    private static int lineEnd(String text, int from) {
        int i = text.indexOf("\r\n", from);
        return i < 0 ? text.length() : i;
    }

    /** RFC 9110 token: {@code 1*tchar}. */
    private static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!alnum && "!#$%&'*+-.^_`|~".indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    private void fail(ChannelHandlerContext ctx, ByteBuf in, List<Object> out, Reason reason, String detail) {
        in.skipBytes(in.readableBytes());
        finish(ctx);
        out.add(new RequestError(reason, detail));
    }

    private void finish(ChannelHandlerContext ctx) {
        done = true;
        cancelTimeout();
    }

    private void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }
}
