package dev.enclave.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The decoder against the exact bytes a client sends, delivered in every possible two-piece split
 * and one byte at a time, so a fold that straddles two reads is seen as surely as one inside a read.
 */
class StrictRequestDecoderTest {
    private static final String REFUSED = "refused: " + StrictRequestDecoder.FOLDED;

    static List<Arguments> cases() {
        return List.of(
                Arguments.of("a fold continuing the first header is refused",
                        "GET / HTTP/1.1\r\nX-A: 1\r\n  more\r\nHost: gw\r\n\r\n",
                        List.of(REFUSED)),
                Arguments.of("whitespace before the first header is refused",
                        "GET / HTTP/1.1\r\n Host: gw\r\n\r\n",
                        List.of(REFUSED)),
                Arguments.of("a tab fold continuing a later header is refused",
                        "GET / HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\nX-B: 2\r\n\tmore\r\n\r\n",
                        List.of(REFUSED)),
                Arguments.of("a fold in the last header line is refused",
                        "GET / HTTP/1.1\r\nHost: gw\r\nX-B: 2\r\n more\r\n\r\n",
                        List.of(REFUSED)),
                Arguments.of("a fold in a pipelined second request refuses that one and decodes nothing after it",
                        "GET /1 HTTP/1.1\r\nHost: gw\r\n\r\nGET /2 HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n 2\r\n\r\nGET /3 HTTP/1.1\r\nHost: gw\r\n\r\n",
                        List.of("GET /1", "last 0", REFUSED)),
                Arguments.of("a fold in a request after one with a body is refused",
                        "POST /1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: gw\r\n x\r\n\r\n",
                        List.of("POST /1", "last 5", REFUSED)),
                Arguments.of("CRLF and a space inside a Content-Length body are body bytes, not a fold",
                        "POST /1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 12\r\n\r\nab\r\n X: y\r\n\r\nGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n",
                        List.of("POST /1", "last 12", "GET /2", "last 0")),
                Arguments.of("CRLF and a space inside chunked data are body bytes, not a fold",
                        "POST /1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n\r\n X:y\r\n0\r\n\r\nGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n",
                        List.of("POST /1", "last 6", "GET /2", "last 0")),
                Arguments.of("a body that starts with a space right after the head is not a fold",
                        "POST /1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\n \tx",
                        List.of("POST /1", "last 3")),
                Arguments.of("an ordinary head with spaces inside values passes",
                        "GET /a%20b HTTP/1.1\r\nHost: gw\r\nUser-Agent: a b\tc\r\nAccept:  */*\r\n\r\n",
                        List.of("GET /a%20b", "last 0")));
    }

    @ParameterizedTest(name = "{0} (in one piece)")
    @MethodSource("cases")
    void inOnePiece(String sentence, String wire, List<String> expected) {
        assertThat(decode(List.of(wire))).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0} (split at every position)")
    @MethodSource("cases")
    void splitAtEveryPosition(String sentence, String wire, List<String> expected) {
        for (int at = 1; at < wire.length(); at++) {
            assertThat(decode(List.of(wire.substring(0, at), wire.substring(at)))).as("split at %d", at).isEqualTo(expected);
        }
    }

    @ParameterizedTest(name = "{0} (one byte at a time)")
    @MethodSource("cases")
    void oneByteAtATime(String sentence, String wire, List<String> expected) {
        List<String> bytes = new ArrayList<>();
        for (char c : wire.toCharArray()) {
            bytes.add(String.valueOf(c));
        }
        assertThat(decode(bytes)).isEqualTo(expected);
    }

    /** What the decoder emits: "METHOD uri" per request, "last N" with N body bytes per request end, or "refused: why". */
    private static List<String> decode(List<String> pieces) {
        EmbeddedChannel ch = new EmbeddedChannel(new StrictRequestDecoder(16 * 1024));
        List<String> got = new ArrayList<>();
        int body = 0;
        for (String piece : pieces) {
            ch.writeInbound(Unpooled.copiedBuffer(piece, StandardCharsets.ISO_8859_1));
            for (Object o; (o = ch.readInbound()) != null; ) {
                if (o instanceof HttpRequest r) {
                    got.add(r.decoderResult().isFailure() ? "refused: " + r.decoderResult().cause().getMessage()
                            : r.method() + " " + r.uri());
                } else if (o instanceof HttpContent c && c.decoderResult().isFailure()) {
                    got.add("malformed body");
                } else if (o instanceof HttpContent c) {
                    body += c.content().readableBytes();
                    if (o instanceof LastHttpContent) {
                        got.add("last " + body);
                        body = 0;
                    }
                }
                ReferenceCountUtil.release(o);
            }
        }
        ch.finishAndReleaseAll();
        return got;
    }
}
