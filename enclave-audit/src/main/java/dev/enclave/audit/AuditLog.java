package dev.enclave.audit;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Writes one JSON object per line, each prefixed with {@code "time"}. Lines are formatted on the
 * caller's thread and written by one background thread, so an event loop never waits for disk;
 * when the queue is full the caller blocks (an audit line is never dropped to keep up).
 */
public final class AuditLog implements AutoCloseable {
    private static final JsonFactory JSON = new JsonFactory();
    private static final Object POISON = new Object();

    private final OutputStream out;
    private final boolean ownsStream;
    private final Clock clock;
    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(65536);
    private final Thread writer;
    private volatile IOException failure;

    private AuditLog(OutputStream out, boolean ownsStream, Clock clock) {
        this.out = out;
        this.ownsStream = ownsStream;
        this.clock = clock;
        this.writer = new Thread(this::drain, "enclave-audit-writer");
        this.writer.setDaemon(true);
        this.writer.start();
    }

    /** Appends to {@code file}, creating it with mode 0600 (audit lines name clients and hosts). */
    public static AuditLog open(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (!Files.exists(file)) {
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException e) {
                Files.createFile(file);
            }
        }
        OutputStream out = Files.newOutputStream(file, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        return new AuditLog(out, true, Clock.systemUTC());
    }

    /** Writes to standard output (foreground use, and systemd's journal). */
    public static AuditLog stdout() {
        return new AuditLog(System.out, false, Clock.systemUTC());
    }

    /**
     * Queues {@code event}. Throws {@link IllegalStateException} once the log has failed, so a
     * caller that audits before acting fails closed instead of acting unaudited.
     */
    public void write(AuditEvent event) {
        if (failure != null) {
            throw new IllegalStateException("audit log is not writable: " + failure.getMessage());
        }
        String line = format(event, clock.instant());
        try {
            queue.put(line);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing an audit line", e);
        }
    }

    /** The JSON line for {@code event}, without the newline. */
    static String format(AuditEvent event, Instant time) {
        StringWriter buf = new StringWriter(256);
        try (JsonGenerator g = JSON.createGenerator(buf)) {
            g.writeStartObject();
            g.writeStringField("time", time.toString());
            for (Map.Entry<String, Object> f : event.fields().entrySet()) {
                Object v = f.getValue();
                if (v instanceof String s) {
                    g.writeStringField(f.getKey(), s);
                } else if (v instanceof Integer || v instanceof Long) {
                    g.writeNumberField(f.getKey(), ((Number) v).longValue());
                } else if (v instanceof Number n) {
                    g.writeNumberField(f.getKey(), n.doubleValue());
                } else {
                    g.writeBooleanField(f.getKey(), (Boolean) v);
                }
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return buf.toString();
    }

    private void drain() {
        try {
            while (true) {
                Object item = queue.take();
                if (item == POISON) {
                    out.flush();
                    return;
                }
                if (item instanceof CountDownLatch flushed) {
                    out.flush();
                    flushed.countDown();
                    continue;
                }
                out.write(((String) item).getBytes(StandardCharsets.UTF_8));
                out.write('\n');
                if (queue.isEmpty()) {
                    out.flush();
                }
            }
        } catch (IOException e) {
            failure = e;
            System.err.println("enclave: audit log write failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits until every line written so far has reached the file (tests and shutdown). */
    public void flush() {
        CountDownLatch flushed = new CountDownLatch(1);
        try {
            queue.put(flushed);
            if (!flushed.await(5, TimeUnit.SECONDS)) {
                throw new IllegalStateException("audit log did not flush within 5 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while flushing the audit log", e);
        }
    }

    public boolean healthy() {
        return failure == null && writer.isAlive();
    }

    @Override
    public void close() {
        try {
            queue.put(POISON);
            writer.join(5000);
            if (ownsStream) {
                out.close();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
