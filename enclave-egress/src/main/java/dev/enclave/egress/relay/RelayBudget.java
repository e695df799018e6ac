package dev.enclave.egress.relay;

import dev.enclave.config.LlmConfig;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.Objects;

/**
 * The optional spending limits of one relay, shared by all its connections (thread-safe).
 *
 * <ul>
 *   <li><b>Tokens per day</b>: prompt plus completion tokens reported by the API, counted per UTC
 *       day. A call is admitted while the day's total is below the limit; its tokens are known
 *       only when it ends, so the last admitted call can take the total past the limit (calls whose
 *       response reports no usage are not counted). Resets at 00:00 UTC.</li>
 *   <li><b>Requests per minute</b>: at most N calls admitted in any 60 seconds (a sliding
 *       window over the admission times, so no burst of 2N across a minute boundary). A refused
 *       call does not count.</li>
 * </ul>
 *
 * <p>{@link #admit()} checks the day's tokens first, then the rate, and returns an
 * {@link Admission} that says which limit refused and when it frees up, for the relay's 429 body,
 * its {@code Retry-After} header and its audit line. The {@link AlertListener} hears about each
 * limit once per window: the token limit once per UTC day, when the day's total first reaches it;
 * the rate limit at the first refusal, then at most once a minute. It is called outside the
 * budget's lock, on the calling thread, so it must hand slow work (a webhook) to another thread.
 */
public final class RelayBudget {
    private static final Duration MINUTE = Duration.ofMinutes(1);
    /** Enough for any API tier; bounds the window's memory at 800 KB. */
    public static final int MAX_REQUESTS_PER_MINUTE = 100_000;

    /** A limit a relay can have. */
    public enum Limit {
        TOKENS_PER_DAY("tokens_per_day"), REQUESTS_PER_MINUTE("requests_per_minute");

        private final String code;

        Limit(String code) {
            this.code = code;
        }

        /** Stable snake_case name for audit lines and metrics, as in {@code enclave.yaml}. */
        public String code() {
            return code;
        }
    }

    /**
     * The answer to {@link #admit()}.
     *
     * @param refusedBy  the limit that refused the call, or null when it may go ahead
     * @param max        that limit's value
     * @param used       tokens used today, or calls admitted in the last minute
     * @param resetsAt   when a call will be admitted again
     * @param retryAfter from now until {@code resetsAt}
     */
    public record Admission(Limit refusedBy, long max, long used, Instant resetsAt, Duration retryAfter) {
        public static final Admission ALLOWED = new Admission(null, 0, 0, null, Duration.ZERO);

        public boolean allowed() {
            return refusedBy == null;
        }

        /** Whole seconds for a {@code Retry-After} header, at least 1. */
        public long retryAfterSeconds() {
            long ms = retryAfter.toMillis();
            return Math.max(1, (ms + 999) / 1000);
        }

        /** One line for the 429 body and the audit line; null when allowed. */
        public String message() {
            if (refusedBy == null) {
                return null;
            }
            return switch (refusedBy) {
                case TOKENS_PER_DAY -> "over this relay's token budget: " + used + " of " + max
                        + " tokens used today (UTC); it resets at " + resetsAt;
                case REQUESTS_PER_MINUTE -> "over this relay's request rate: " + used + " of " + max
                        + " requests in the last minute; retry after " + resetsAt + " (in " + retryAfterSeconds() + " s)";
            };
        }
    }

    /** Told once per window when a limit is first reached, for the audit's alerts. */
    @FunctionalInterface
    public interface AlertListener {
        void limitReached(Limit limit, long max, Instant resetsAt);

        AlertListener NONE = (limit, max, resetsAt) -> { };
    }

    private final long tokensPerDay;
    private final int requestsPerMinute;
    private final Clock clock;
    private final AlertListener listener;

    // Guarded by this.
    private LocalDate day;
    private long tokensToday;
    private boolean tokenAlertSent;
    /** Admission times (epoch ms) of the last calls, oldest at {@code head}; a ring of requestsPerMinute entries. */
    private final long[] admitted;
    private int head;
    private int count;
    private long rateAlertQuietUntil = Long.MIN_VALUE;

    /**
     * @param tokensPerDay      0 for no token limit
     * @param requestsPerMinute 0 for no rate limit
     */
    public RelayBudget(long tokensPerDay, int requestsPerMinute, Clock clock, AlertListener listener) {
        if (tokensPerDay < 0) {
            throw new IllegalArgumentException("tokensPerDay: " + tokensPerDay + " (expected: 0 for none, or more)");
        }
        if (requestsPerMinute < 0 || requestsPerMinute > MAX_REQUESTS_PER_MINUTE) {
            throw new IllegalArgumentException("requestsPerMinute: " + requestsPerMinute + " (expected: 0 for none, or 1-"
                    + MAX_REQUESTS_PER_MINUTE + ")");
        }
        this.tokensPerDay = tokensPerDay;
        this.requestsPerMinute = requestsPerMinute;
        this.clock = Objects.requireNonNull(clock, "clock");
        this.listener = Objects.requireNonNull(listener, "listener");
        this.admitted = new long[requestsPerMinute];
        this.day = LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
    }

    /** The limits of one {@code llm:} entry ({@code budget.tokens_per_day}, {@code budget.requests_per_minute}). */
    public static RelayBudget of(LlmConfig config, Clock clock, AlertListener listener) {
        return new RelayBudget(config.tokensPerDay(), Math.toIntExact(config.requestsPerMinute()), clock, listener);
    }

    /** No limits. */
    public static RelayBudget unlimited() {
        return new RelayBudget(0, 0, Clock.systemUTC(), AlertListener.NONE);
    }

    /** Whether a call may go ahead now; an admitted call counts against the rate at once. */
    public Admission admit() {
        Admission answer;
        boolean alert = false;
        Instant now = clock.instant();
        synchronized (this) {
            rollDay(now);
            if (tokensPerDay > 0 && tokensToday >= tokensPerDay) {
                Instant midnight = nextMidnight();
                answer = new Admission(Limit.TOKENS_PER_DAY, tokensPerDay, tokensToday, midnight, Duration.between(now, midnight));
                if (!tokenAlertSent) {
                    tokenAlertSent = true;
                    alert = true;
                }
            } else if (requestsPerMinute > 0) {
                answer = rate(now.toEpochMilli());
                if (!answer.allowed() && now.toEpochMilli() >= rateAlertQuietUntil) {
                    rateAlertQuietUntil = now.toEpochMilli() + MINUTE.toMillis();
                    alert = true;
                }
            } else {
                answer = Admission.ALLOWED;
            }
        }
        if (alert) {
            listener.limitReached(answer.refusedBy(), answer.max(), answer.resetsAt());
        }
        return answer;
    }

    private Admission rate(long nowMs) {
        if (count < requestsPerMinute) {
            admitted[(head + count) % requestsPerMinute] = nowMs;
            count++;
            return Admission.ALLOWED;
        }
        long oldest = admitted[head];
        if (oldest <= nowMs - MINUTE.toMillis()) {
            // The oldest call has left the window: its slot goes to this one, which is now the newest.
            admitted[head] = nowMs;
            head = (head + 1) % requestsPerMinute;
            return Admission.ALLOWED;
        }
        long free = oldest + MINUTE.toMillis();
        return new Admission(Limit.REQUESTS_PER_MINUTE, requestsPerMinute, inLastMinute(nowMs),
                Instant.ofEpochMilli(free), Duration.ofMillis(free - nowMs));
    }

    private int inLastMinute(long nowMs) {
        int n = 0;
        for (int i = 0; i < count; i++) {
            if (admitted[(head + i) % requestsPerMinute] > nowMs - MINUTE.toMillis()) {
                n++;
            }
        }
        return n;
    }

    /** Adds the tokens a finished call used (prompt plus completion) to today's total. */
    public void record(long tokens) {
        if (tokens < 0) {
            throw new IllegalArgumentException("tokens: " + tokens + " (expected: 0 or more)");
        }
        if (tokensPerDay == 0 || tokens == 0) {
            return;
        }
        Instant resetsAt = null;
        synchronized (this) {
            rollDay(clock.instant());
            tokensToday = tokensToday > Long.MAX_VALUE - tokens ? Long.MAX_VALUE : tokensToday + tokens;
            if (tokensToday >= tokensPerDay && !tokenAlertSent) {
                tokenAlertSent = true;
                resetsAt = nextMidnight();
            }
        }
        if (resetsAt != null) {
            listener.limitReached(Limit.TOKENS_PER_DAY, tokensPerDay, resetsAt);
        }
    }

    /** Tokens counted so far in the current UTC day. */
    public synchronized long tokensUsedToday() {
        rollDay(clock.instant());
        return tokensToday;
    }

    public long tokensPerDay() {
        return tokensPerDay;
    }

    public int requestsPerMinute() {
        return requestsPerMinute;
    }

    private void rollDay(Instant now) {
        LocalDate today = LocalDate.ofInstant(now, ZoneOffset.UTC);
        if (today.isAfter(day)) {
            day = today;
            tokensToday = 0;
            tokenAlertSent = false;
        }
    }

    private Instant nextMidnight() {
        return day.plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    }
}
