package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.config.LlmConfig;
import dev.enclave.egress.relay.RelayBudget.Admission;
import dev.enclave.egress.relay.RelayBudget.Limit;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RelayBudgetTest {
    private static final Instant NOON = Instant.parse("2026-11-25T12:00:00Z");
    private static final Instant MIDNIGHT = Instant.parse("2026-11-26T00:00:00Z");

    private final SettableClock clock = new SettableClock(NOON);
    private final List<String> alerts = Collections.synchronizedList(new ArrayList<>());
    private final RelayBudget.AlertListener recorder =
            (limit, max, resetsAt) -> alerts.add(limit.code() + " " + max + " until " + resetsAt);

    // ---- no limits -----------------------------------------------------------------------------

    @Test
    void withoutLimitsEveryCallIsAdmitted() {
        RelayBudget budget = new RelayBudget(0, 0, clock, recorder);
        for (int i = 0; i < 10_000; i++) {
            assertThat(budget.admit().allowed()).isTrue();
        }
        budget.record(Long.MAX_VALUE);
        assertThat(budget.admit()).isSameAs(Admission.ALLOWED);
        assertThat(alerts).isEmpty();
        assertThat(RelayBudget.unlimited().admit().allowed()).isTrue();
    }

    // ---- tokens per day ------------------------------------------------------------------------

    @Test
    void callsAreAdmittedWhileTheDaysTokensAreBelowTheLimit() {
        RelayBudget budget = new RelayBudget(1000, 0, clock, recorder);
        assertThat(budget.admit().allowed()).isTrue();
        budget.record(999);
        assertThat(budget.admit().allowed()).as("999 of 1000 used").isTrue();
        budget.record(500);
        assertThat(budget.tokensUsedToday()).as("the last call may overshoot").isEqualTo(1499);

        Admission refused = budget.admit();
        assertThat(refused.allowed()).isFalse();
        assertThat(refused.refusedBy()).isEqualTo(Limit.TOKENS_PER_DAY);
        assertThat(refused.resetsAt()).isEqualTo(MIDNIGHT);
        assertThat(refused.retryAfterSeconds()).isEqualTo(Duration.ofHours(12).toSeconds());
        assertThat(refused.message()).isEqualTo("over this relay's token budget: 1499 of 1000 tokens used today (UTC);"
                + " it resets at 2026-11-26T00:00:00Z");
    }

    @Test
    void theTokenCountStartsAgainAtMidnightUtc() {
        RelayBudget budget = new RelayBudget(100, 0, clock, recorder);
        budget.record(100);
        clock.set(Instant.parse("2026-11-25T23:59:59.999Z"));
        assertThat(budget.admit().allowed()).isFalse();
        clock.set(MIDNIGHT);
        assertThat(budget.admit().allowed()).isTrue();
        assertThat(budget.tokensUsedToday()).isZero();
    }

    @Test
    void theDayIsTheUtcDayWhateverTheClocksZone() {
        clock.zone = ZoneId.of("Pacific/Auckland"); // already 2026-11-26 there at 12:00 UTC
        RelayBudget budget = new RelayBudget(100, 0, clock, recorder);
        budget.record(100);
        Admission refused = budget.admit();
        assertThat(refused.resetsAt()).isEqualTo(MIDNIGHT);
    }

    @Test
    void theTokenAlertFiresOnceADayWhenTheLimitIsFirstReached() {
        RelayBudget budget = new RelayBudget(100, 0, clock, recorder);
        budget.record(60);
        assertThat(alerts).isEmpty();
        budget.record(40);
        assertThat(alerts).containsExactly("tokens_per_day 100 until 2026-11-26T00:00:00Z");
        budget.record(40);
        budget.admit();
        budget.admit();
        assertThat(alerts).hasSize(1);

        clock.set(MIDNIGHT.plusSeconds(60));
        budget.record(150);
        assertThat(alerts).containsExactly("tokens_per_day 100 until 2026-11-26T00:00:00Z",
                "tokens_per_day 100 until 2026-11-27T00:00:00Z");
    }

    // ---- requests per minute -------------------------------------------------------------------

    @Test
    void atMostNCallsAreAdmittedInAnySixtySeconds() {
        RelayBudget budget = new RelayBudget(0, 3, clock, recorder);
        assertThat(budget.admit().allowed()).isTrue();              // 12:00:00
        clock.advance(Duration.ofSeconds(20));
        assertThat(budget.admit().allowed()).isTrue();              // 12:00:20
        clock.advance(Duration.ofSeconds(30));
        assertThat(budget.admit().allowed()).isTrue();              // 12:00:50

        clock.advance(Duration.ofSeconds(5));                       // 12:00:55
        Admission refused = budget.admit();
        assertThat(refused.refusedBy()).isEqualTo(Limit.REQUESTS_PER_MINUTE);
        assertThat(refused.resetsAt()).isEqualTo(NOON.plusSeconds(60));
        assertThat(refused.retryAfterSeconds()).isEqualTo(5);
        assertThat(refused.message()).isEqualTo("over this relay's request rate: 3 of 3 requests in the last minute;"
                + " retry after 2026-11-25T12:01:00Z (in 5 s)");

        clock.set(NOON.plusSeconds(60));                            // the 12:00:00 call leaves the window
        assertThat(budget.admit().allowed()).isTrue();
        assertThat(budget.admit().refusedBy()).as("12:00:20, 12:00:50 and 12:01:00 are in the window")
                .isEqualTo(Limit.REQUESTS_PER_MINUTE);
    }

    @Test
    void aBurstAcrossAMinuteBoundaryIsStillLimited() {
        RelayBudget budget = new RelayBudget(0, 2, clock, recorder);
        clock.set(Instant.parse("2026-11-25T12:00:59.900Z"));
        assertThat(budget.admit().allowed()).isTrue();
        assertThat(budget.admit().allowed()).isTrue();
        clock.set(Instant.parse("2026-11-25T12:01:00.100Z"));
        assertThat(budget.admit().allowed()).as("a fixed per-minute window would allow this").isFalse();
    }

    @Test
    void refusedCallsDoNotCountAgainstTheRate() {
        RelayBudget budget = new RelayBudget(0, 1, clock, recorder);
        assertThat(budget.admit().allowed()).isTrue();
        for (int i = 0; i < 50; i++) {
            clock.advance(Duration.ofSeconds(1));
            assertThat(budget.admit().allowed()).isFalse();
        }
        clock.set(NOON.plusSeconds(60));
        assertThat(budget.admit().allowed()).isTrue();
    }

    @Test
    void theRateAlertFiresAtTheFirstRefusalThenAtMostOnceAMinute() {
        RelayBudget budget = new RelayBudget(0, 1, clock, recorder);
        budget.admit();
        budget.admit();
        budget.admit();
        assertThat(alerts).containsExactly("requests_per_minute 1 until 2026-11-25T12:01:00Z");
        clock.advance(Duration.ofSeconds(59));
        budget.admit();
        assertThat(alerts).hasSize(1);
        clock.advance(Duration.ofSeconds(1));
        assertThat(budget.admit().allowed()).isTrue();
        clock.advance(Duration.ofSeconds(1));
        budget.admit();
        assertThat(alerts).hasSize(2).last().isEqualTo("requests_per_minute 1 until 2026-11-25T12:02:00Z");
    }

    @Test
    void theTokenLimitIsCheckedFirstAndARefusalByItUsesNoRateSlot() {
        RelayBudget budget = new RelayBudget(10, 1, clock, recorder);
        budget.record(10);
        assertThat(budget.admit().refusedBy()).isEqualTo(Limit.TOKENS_PER_DAY);
        clock.set(MIDNIGHT);
        assertThat(budget.admit().allowed()).as("the refused call took no rate slot").isTrue();
        assertThat(budget.admit().refusedBy()).isEqualTo(Limit.REQUESTS_PER_MINUTE);
    }

    // ---- concurrency ---------------------------------------------------------------------------

    @Test
    void concurrentCallersAreAdmittedExactlyUpToTheLimitAndAlertedOnce() throws Exception {
        RelayBudget budget = new RelayBudget(8_000, 1_000, clock, recorder);
        AtomicInteger admitted = new AtomicInteger();
        runConcurrently(8, 500, () -> {
            if (budget.admit().allowed()) {
                admitted.incrementAndGet();
            }
            budget.record(2);
        });
        assertThat(admitted.get()).isEqualTo(1_000);
        assertThat(budget.tokensUsedToday()).isEqualTo(8 * 500 * 2);
        assertThat(alerts).containsExactlyInAnyOrder("requests_per_minute 1000 until 2026-11-25T12:01:00Z",
                "tokens_per_day 8000 until 2026-11-26T00:00:00Z");
    }

    // ---- construction ----------------------------------------------------------------------------

    @Test
    void takesItsLimitsFromTheLlmEntry() {
        LlmConfig entry = new LlmConfig("openai", new InetSocketAddress("127.0.0.1", 4000), URI.create("https://api.llm.test"),
                "K", null, List.of(), 500, null, null, 2, List.of(), List.of(), null);
        RelayBudget budget = RelayBudget.of(entry, clock, recorder);
        assertThat(budget.tokensPerDay()).isEqualTo(500);
        assertThat(budget.requestsPerMinute()).isEqualTo(2);
    }

    @Test
    void refusesNonsenseLimits() {
        assertThatThrownBy(() -> new RelayBudget(-1, 0, clock, recorder)).hasMessageContaining("tokensPerDay: -1");
        assertThatThrownBy(() -> new RelayBudget(0, 100_001, clock, recorder)).hasMessageContaining("requestsPerMinute: 100001");
        assertThatThrownBy(() -> new RelayBudget(1, 0, clock, recorder).record(-5)).hasMessageContaining("tokens: -5");
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static void runConcurrently(int threads, int times, Runnable action) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                futures.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < times; i++) {
                        action.run();
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** A clock the test sets; thread-safe reads. */
    static final class SettableClock extends Clock {
        private volatile Instant now;
        volatile ZoneId zone = ZoneOffset.UTC;

        SettableClock(Instant now) {
            this.now = now;
        }

        void set(Instant instant) {
            now = instant;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return zone;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
