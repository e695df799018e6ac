package dev.enclave.egress;

import dev.enclave.egress.policy.Decision;
import dev.enclave.egress.policy.Reason;
import dev.enclave.egress.policy.Verdict;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.socket.DuplexChannel;

/** Small helpers shared by both sides of a tunnel. */
final class Tunnels {
    private Tunnels() {
    }

    /** Flushes what is queued, then closes: the peer gets every byte already relayed. */
    static void closeOnFlush(Channel ch) {
        if (ch != null && ch.isActive()) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    /**
     * One side finished sending (TCP FIN): pass that on to the other side once everything already
     * relayed is flushed, and close both when both directions are finished. A request-then-wait
     * client (HTTP/1.0, {@code shutdown(SHUT_WR)}) thus still gets its answer.
     */
    static void forwardInputShutdown(Channel from, Channel to) {
        if (!(to instanceof DuplexChannel peer) || !to.isActive()) {
            from.close();
            return;
        }
        peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
            if (!f.isSuccess()) {
                from.close();
                return;
            }
            peer.shutdownOutput().addListener(s -> {
                if (from instanceof DuplexChannel d && d.isOutputShutdown() || !s.isSuccess()) {
                    from.close();
                    to.close();
                }
            });
        });
    }

    /**
     * Folds two passing decisions into the one the audit line carries: the verdict is
     * report_would_deny if either was, the reason is the first non-"allowed" one, and the rules
     * that admitted the request are joined.
     */
    static Decision combine(Decision first, Decision second) {
        Verdict verdict = first.verdict() == Verdict.REPORT_WOULD_DENY || second.verdict() == Verdict.REPORT_WOULD_DENY
                ? Verdict.REPORT_WOULD_DENY : Verdict.ALLOW;
        Reason reason = first.reason() != Reason.ALLOWED ? first.reason() : second.reason();
        String detail = first.reason() != Reason.ALLOWED ? first.detail() : second.detail();
        String rule = first.rule() == null ? second.rule()
                : second.rule() == null ? first.rule() : first.rule() + "; " + second.rule();
        return new Decision(verdict, reason, rule, detail);
    }
}
