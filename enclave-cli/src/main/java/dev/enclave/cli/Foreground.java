package dev.enclave.cli;

import dev.enclave.audit.AuditLog;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/** What every long-running verb shares: its audit log, and running until the process is told to stop. */
final class Foreground {
    private Foreground() {
    }

    /** The audit log at {@code file}, or standard output when null; a one-line error if it cannot be opened. */
    static AuditLog openAudit(Path file) {
        if (file == null) {
            return AuditLog.stdout();
        }
        try {
            return AuditLog.open(file);
        } catch (IOException e) {
            throw UserError.usage("cannot open audit log " + file + ": " + e.getMessage()
                    + "; check that its directory exists and is writable");
        }
    }

    /** Blocks until SIGTERM/SIGINT, then closes {@code server} and {@code log} in that order. */
    static void runUntilStopped(String name, AutoCloseable server, AuditLog log) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (Exception e) {
                System.err.println("enclave " + name + ": error while stopping: " + e.getMessage());
            }
            log.close();
            stopped.countDown();
        }, "enclave-" + name + "-shutdown"));
        stopped.await();
    }
}
