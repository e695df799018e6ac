package dev.enclave.lab;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs the checks that apply to the lab's design, several at once (most failures are a connect
 * timeout, so running them one after another would mostly wait), then those that must run alone,
 * one by one, and returns the rows in table order.
 */
public final class LabVerifier {
    private static final int PARALLEL = 6;

    private LabVerifier() {
    }

    public static LabReport verify(LabContext lab, List<LabCheck> checks) throws InterruptedException {
        long start = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(PARALLEL, r -> {
            Thread t = new Thread(r, "lab-check");
            t.setDaemon(true);
            return t;
        });
        try {
            java.util.Map<LabCheck, Future<LabReport.Row>> pending = new java.util.LinkedHashMap<>();
            for (LabCheck check : checks) {
                Expectation expected = check.expectation(lab.design());
                if (expected != null && !check.alone()) {
                    pending.put(check, pool.submit(() -> run(lab, check, expected)));
                }
            }
            java.util.Map<LabCheck, LabReport.Row> done = new java.util.HashMap<>();
            for (java.util.Map.Entry<LabCheck, Future<LabReport.Row>> f : pending.entrySet()) {
                try {
                    done.put(f.getKey(), f.getValue().get());
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(e.getCause());
                }
            }
            for (LabCheck check : checks) {
                Expectation expected = check.expectation(lab.design());
                if (expected != null && check.alone()) {
                    done.put(check, run(lab, check, expected));
                }
            }
            List<LabReport.Row> rows = new ArrayList<>();
            for (LabCheck check : checks) {
                if (done.containsKey(check)) {
                    rows.add(done.get(check));
                }
            }
            return new LabReport(lab.design(), rows, (System.nanoTime() - start) / 1_000_000);
        } finally {
            pool.shutdownNow();
        }
    }

    private static LabReport.Row run(LabContext lab, LabCheck check, Expectation expected) {
        long start = System.nanoTime();
        Observation seen;
        try {
            seen = check.probe().run(lab);
        } catch (Exception e) {
            // A probe that cannot run proves nothing: reported as neither result, so the row fails.
            return new LabReport.Row(check, expected, null, "the check could not run: " + e, (System.nanoTime() - start) / 1_000_000);
        }
        return new LabReport.Row(check, expected, seen.result(), seen.evidence(), (System.nanoTime() - start) / 1_000_000);
    }
}
