package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;

/**
 * The relay's default observer: reads each call's {@code model} from its request body and its
 * token counts from its response body as they stream past, adds them to the call's audit line
 * ({@code model}, {@code prompt_tokens}, {@code completion_tokens}), and enforces the relay's
 * {@link RelayBudget}: a call over a limit is answered 429 with the limit in words, a
 * {@code Retry-After} header, and {@code limit}/{@code limit_max}/{@code limit_used}/{@code retry_after_s}
 * on its audit line; an admitted call's tokens are added to the day's total when it ends (also when
 * the client left mid-stream: the tokens the API reported were spent).
 */
public final class UsageObserver implements RelayCallObserver {
    /** Status and reason of a call refused by the budget. */
    public static final int OVER_BUDGET_STATUS = 429;
    public static final String OVER_BUDGET_REASON = "over_budget";

    private final RelayBudget budget;
    private RequestModelScanner request;
    private ResponseUsageScanner response;
    private RelayBudget.Admission refusal;

    private UsageObserver(RelayBudget budget) {
        this.budget = budget;
    }

    /** One observer per call, all sharing {@code budget} ({@link RelayBudget#unlimited()} for usage audit only). */
    public static Factory factory(RelayBudget budget) {
        return call -> new UsageObserver(budget);
    }

    /**
     * An alert listener that writes one {@code budget_alert} audit line when a limit is first
     * reached in its window, for whatever watches the audit log.
     */
    public static RelayBudget.AlertListener auditAlerts(AuditLog audit, RelaySettings settings) {
        String upstream = settings.upstreamTarget().host();
        String listen = settings.listen().getAddress().getHostAddress() + ":" + settings.listen().getPort();
        return (limit, max, resetsAt) -> audit.write(AuditEvent.of("relay", "budget_alert")
                .put("upstream", upstream)
                .put("listen", listen)
                .put("limit", limit.code())
                .put("limit_max", max)
                .put("resets_at", resetsAt.toString()));
    }

    @Override
    public Refusal admit(RelayCall call) {
        RelayBudget.Admission a = budget.admit();
        if (a.allowed()) {
            request = RequestModelScanner.forRequest(call.requestContentType(), call.requestContentEncoding());
            return null;
        }
        refusal = a;
        return new Refusal(OVER_BUDGET_STATUS, OVER_BUDGET_REASON, a.message(), a.retryAfterSeconds());
    }

    @Override
    public void requestBody(RelayCall call, ByteBuf content) {
        if (request != null) {
            request.feed(content);
        }
    }

    @Override
    public void responseHead(RelayCall call, HttpResponse head) {
        if (response != null) {
            response.close(); // an earlier head of the same call (cannot happen for final heads; defensive)
        }
        response = ResponseUsageScanner.forResponse(head.headers().get(HttpHeaderNames.CONTENT_TYPE),
                head.headers().get(HttpHeaderNames.CONTENT_ENCODING));
    }

    @Override
    public void responseBody(RelayCall call, ByteBuf content) {
        if (response != null) {
            response.feed(content);
        }
    }

    @Override
    public void finished(RelayCall call, AuditEvent auditLine) {
        if (refusal != null) {
            auditLine.put("limit", refusal.refusedBy().code())
                    .put("limit_max", refusal.max())
                    .put("limit_used", refusal.used())
                    .put("retry_after_s", refusal.retryAfterSeconds());
            return;
        }
        if (request != null) {
            auditLine.put("model", request.model());
        }
        if (response != null) {
            TokenUsage usage = response.usage();
            response.close();
            if (usage.promptTokens() >= 0) {
                auditLine.put("prompt_tokens", usage.promptTokens());
            }
            if (usage.completionTokens() >= 0) {
                auditLine.put("completion_tokens", usage.completionTokens());
            }
            budget.record(usage.total());
        }
    }
}
