package dev.enclave.egress.relay;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOutboundInvoker;
import java.nio.charset.StandardCharsets;

/**
 * A last answer written as bytes, then the connection closed: for a connection the relay drops
 * outside any call (over the connection limit, no request head in time), where the HTTP codec is
 * not in the way or not in the pipeline yet.
 */
final class RawReply {
    private RawReply() {
    }

    /**
     * @param out the channel (nothing in its pipeline yet), or the context of a handler before the
     *            codec, so the bytes go out as they are
     */
    static void sendAndClose(ChannelOutboundInvoker out, int status, String statusText, String code, String text) {
        byte[] body = ("enclave relay: " + text + "\n").getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + statusText + "\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: " + body.length + "\r\n"
                + "X-Enclave-Reason: " + code + "\r\n"
                + "Connection: close\r\n\r\n";
        out.writeAndFlush(Unpooled.wrappedBuffer(head.getBytes(StandardCharsets.US_ASCII), body))
                .addListener(ChannelFutureListener.CLOSE);
    }
}
