package dev.enclave.audit;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
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
    private static final Object POISON = new Object();
    private static final long BATCH_MILLIS = 5;

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
        OutputStream out = new java.io.BufferedOutputStream(
                Files.newOutputStream(file, StandardOpenOption.APPEND, StandardOpenOption.WRITE), 64 * 1024);
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
        StringBuilder b = new StringBuilder(320);
        b.append("{\"time\":\"");
        appendInstant(b, time);
        b.append('"');
        for (int i = 0; i < event.size(); i++) {
            b.append(",\"");
            escape(b, event.key(i));
            b.append("\":");
            Object v = event.value(i);
            if (v instanceof String str) {
                b.append('"');
                escape(b, str);
                b.append('"');
            } else if (v instanceof Double d && !Double.isFinite(d) || v instanceof Float fl && !Float.isFinite(fl)) {
                b.append("null");
            } else {
                b.append(v); // Integer, Long, finite Double, Boolean: their toString is valid JSON
            }
        }
        return b.append('}').toString();
    }

    /** The last second formatted by {@link #appendInstant}: consecutive lines mostly share it. */
    private record SecondPrefix(long epochSecond, String text) {
    }

    private static volatile SecondPrefix lastSecond = new SecondPrefix(0, "1970-01-01T00:00:00");

    /**
     * Appends exactly what {@code time.toString()} gives (ISO-8601, UTC, fraction in groups of three
     * digits as needed), without {@code DateTimeFormatter}: that formatter was a few percent of the
     * relay's CPU per call. The date and time of day are formatted once per second.
     */
    static void appendInstant(StringBuilder b, Instant time) {
        long second = time.getEpochSecond();
        // Years 0000-9999 print as four digits; anything else takes the JDK's own (signed, longer) form.
        if (second < -62_167_219_200L || second > 253_402_300_799L) {
            b.append(time);
            return;
        }
        SecondPrefix p = lastSecond;
        if (p.epochSecond() != second) {
            String full = Instant.ofEpochSecond(second).toString(); // "yyyy-MM-ddTHH:mm:ssZ"
            p = new SecondPrefix(second, full.substring(0, full.length() - 1));
            lastSecond = p;
        }
        b.append(p.text());
        int nano = time.getNano();
        if (nano != 0) {
            int digits;
            int value;
            if (nano % 1_000_000 == 0) {
                digits = 3;
                value = nano / 1_000_000;
            } else if (nano % 1_000 == 0) {
                digits = 6;
                value = nano / 1_000;
            } else {
                digits = 9;
                value = nano;
            }
            b.append('.');
            for (int scale = pow10(digits - 1); scale > 0; scale /= 10) {
                b.append((char) ('0' + value / scale % 10));
            }
        }
        b.append('Z');
    }

    private static int pow10(int n) {
        int r = 1;
        for (int i = 0; i < n; i++) {
            r *= 10;
        }
        return r;
    }

    /**
     * JSON string escaping (RFC 8259): quote, backslash and every control character are escaped, and
     * U+2028/U+2029 too, so a client-chosen string can never end the line or the object early.
     */
    private static void escape(StringBuilder b, String s) {
        // Most strings (every field name, addresses, paths, models) need no escaping: one bulk
        // append instead of one per character (escaping was the relay's largest cost per audit line).
        int clean = 0;
        while (clean < s.length() && plain(s.charAt(clean))) {
            clean++;
        }
        if (clean == s.length()) {
            b.append(s);
            return;
        }
        b.append(s, 0, clean);
        for (int i = clean; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029') {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
    }

    /** Whether {@code c} goes into a JSON string as it is (see {@link #escape}). */
    private static boolean plain(char c) {
        return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f && c != '\u2028' && c != '\u2029';
    }

    private void drain() {
        List<Object> batch = new ArrayList<>(256);
        try {
            while (true) {
                batch.add(queue.take());
                queue.drainTo(batch);
                for (Object item : batch) {
                    if (item == POISON) {
                        out.flush();
                        return;
                    }
                    if (item instanceof CountDownLatch flushed) {
                        out.flush();
                        flushed.countDown();
                    } else {
                        out.write(((String) item).getBytes(StandardCharsets.UTF_8));
                        out.write('\n');
                    }
                }
                out.flush();
                batch.clear();
                // Let lines gather for a moment: one wake-up and one write per batch instead of per
                // line keeps the audit off the proxy's hot path. A line waits at most this long.
                Thread.sleep(BATCH_MILLIS);
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
            if (failure == null) {
                throw new UncheckedIOException(e);
            }
            // already reported when the log failed; closing a broken file cannot add anything
        }
    }
}
