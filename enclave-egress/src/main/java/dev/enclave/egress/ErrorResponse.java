package dev.enclave.egress;

import dev.enclave.egress.policy.Decision;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DuplexChannel;
import java.nio.charset.StandardCharsets;

/** The short HTTP error (followed by a half-close of our side) the proxy answers every refused request with. */
final class ErrorResponse {
    private ErrorResponse() {
    }

    static void send(ChannelHandlerContext ctx, Decision decision) {
        int status = decision.reason().status();
        String body = "enclave egress: " + decision.reason().code() + ": " + decision.reason().text()
                + (decision.detail() == null ? "" : " (" + sanitize(decision.detail()) + ")") + "\n";
        byte[] bodyBytes = body.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + phrase(status) + "\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: " + bodyBytes.length + "\r\n"
                + "X-Enclave-Reason: " + decision.reason().code() + "\r\n"
                + "Connection: close\r\n\r\n";
        ByteBuf buf = ctx.alloc().buffer(head.length() + bodyBytes.length);
        buf.writeCharSequence(head, StandardCharsets.US_ASCII);
        buf.writeBytes(bodyBytes);
        ctx.writeAndFlush(buf).addListener((ChannelFutureListener) f -> {
            if (f.channel() instanceof DuplexChannel d) {
                d.shutdownOutput();
            } else {
                f.channel().close();
            }
        });
    }

    /** Keeps client-supplied text printable and short in the body. */
    private static String sanitize(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 200));
        for (int i = 0; i < s.length() && b.length() < 200; i++) {
            char c = s.charAt(i);
            b.append(c < 0x20 || c == 0x7f ? '?' : c);
        }
        return b.toString();
    }

    static String phrase(int status) {
        return switch (status) {
            case 200 -> "Connection established";
            case 400 -> "Bad Request";
            case 403 -> "Forbidden";
            case 405 -> "Method Not Allowed";
            case 408 -> "Request Timeout";
            case 431 -> "Request Header Fields Too Large";
            case 502 -> "Bad Gateway";
            case 503 -> "Service Unavailable";
            default -> "Error";
        };
    }
}
