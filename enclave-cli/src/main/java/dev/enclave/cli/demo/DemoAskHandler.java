package dev.enclave.cli.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The {@code /ask} WebSocket: each text message is a prompt; the answer comes back as one message
 * per piece of text, as the relay streams it, then {@code {"done":true}}; a refusal or failure is
 * {@code {"error":"..."}} with the relay's own words. One prompt at a time per connection. When
 * the page goes away mid-answer, the relay call is hung up, so the LLM stops too.
 *
 * <p>Messages are JSON objects: {@code {"text":"..."}}, {@code {"error":"..."}}, {@code {"done":true}}.
 */
final class DemoAskHandler extends SimpleChannelInboundHandler<TextWebSocketFrame> {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final DemoLlmClient llm;
    private final ExecutorService workers;
    /** Whether a worker is answering on this connection. */
    private final AtomicBoolean answering = new AtomicBoolean();
    /** The relay call being streamed, set by the worker; closed from here when the page leaves. */
    private volatile DemoLlmClient.Answer streaming;

    DemoAskHandler(DemoLlmClient llm, ExecutorService workers) {
        this.llm = llm;
        this.workers = workers;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, TextWebSocketFrame frame) {
        String prompt = frame.text().strip();
        Channel ch = ctx.channel();
        if (prompt.isEmpty()) {
            ch.writeAndFlush(message("error", "type a question first"));
        } else if (!answering.compareAndSet(false, true)) {
            ch.writeAndFlush(message("error", "one question at a time: wait for this answer to end"));
        } else {
            workers.execute(() -> answer(ch, prompt));
        }
    }

    /** On a worker thread: the relay call, streamed out message by message. */
    private void answer(Channel ch, String prompt) {
        TextWebSocketFrame last;
        try (DemoLlmClient.Answer answer = llm.ask(prompt)) {
            streaming = answer;
            boolean left = !ch.isActive(); // it may have left while the relay was being asked
            for (String piece = left ? null : answer.next(); piece != null; piece = answer.next()) {
                if (!send(ch, message("text", piece))) {
                    left = true; // closing the answer hangs up on the relay
                    break;
                }
            }
            last = left ? null : message("done", null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // shutting down
            last = null;
        } catch (DemoLlmClient.Refused e) {
            last = message("error", e.getMessage());
        } catch (IOException e) {
            // also how a read ends when channelInactive hung up: then send() finds nobody to tell
            last = message("error", "cannot reach the LLM relay at " + llm.relay() + ": " + e);
        } finally {
            streaming = null;
        }
        answering.set(false); // before the last message: the page may ask again as soon as it has it
        if (last != null) {
            send(ch, last);
        }
    }

    /** Writes one message and waits until it is written: the relay is read no faster than the page takes it. */
    private static boolean send(Channel ch, TextWebSocketFrame message) {
        if (!ch.isActive()) {
            message.release();
            return false;
        }
        return ch.writeAndFlush(message).awaitUninterruptibly().isSuccess();
    }

    private static TextWebSocketFrame message(String kind, String value) {
        ObjectNode m = JSON.createObjectNode();
        if (value == null) {
            m.put(kind, true);
        } else {
            m.put(kind, value);
        }
        try {
            return new TextWebSocketFrame(JSON.writeValueAsString(m));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        DemoLlmClient.Answer a = streaming;
        if (a != null) {
            a.close(); // hangs up on the relay, which hangs up on the LLM; the worker's read ends
        }
        super.channelInactive(ctx);
    }
}
