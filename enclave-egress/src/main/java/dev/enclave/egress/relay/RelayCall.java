package dev.enclave.egress.relay;

import java.net.InetAddress;

/**
 * One request through the relay, from its head arriving to its response ending (or failing): the
 * facts its audit line is made of. Filled in by the relay's handlers on the connection's event
 * loop; a {@link RelayCallObserver} reads it there.
 */
public final class RelayCall {
    /** How the call ended. */
    public enum Outcome {
        /** The upstream's response reached the client whole. */
        COMPLETE("complete"),
        /** The relay answered itself (path, method, budget, bad request); nothing went upstream. */
        REFUSED("refused"),
        /** No usable upstream connection (DNS, address policy, connect, TLS): the client got 502. */
        UPSTREAM_FAILED("upstream_failed"),
        /** The upstream closed the connection before the response ended. */
        UPSTREAM_CLOSED("upstream_closed"),
        /** The client went away before the response ended; the upstream request was cancelled. */
        CLIENT_CLOSED("client_closed");

        private final String code;

        Outcome(String code) {
            this.code = code;
        }

        public String code() {
            return code;
        }
    }

    private final InetAddress client;
    private final String method;
    private final String path;
    private final boolean hadQuery;
    private final long startNanos = System.nanoTime();
    long connectedNanos;
    long sentUpstreamNanos;
    long responseHeadNanos;
    long firstBodyByteNanos;
    long endNanos;
    boolean reusedConnection;
    /** Sent a second time on a new connection after a reused one closed without answering. */
    boolean retried;
    String upstreamProtocol;
    int status;
    long bytesUp;
    long bytesDown;
    Outcome outcome;
    String reason;
    /** The request's {@code Content-Type} and {@code Content-Encoding} (null when absent), for body readers. */
    String requestContentType;
    String requestContentEncoding;

    RelayCall(InetAddress client, String method, String path, boolean hadQuery) {
        this.client = client;
        this.method = method;
        this.path = path;
        this.hadQuery = hadQuery;
    }

    /** The app-side address the request came from. */
    public InetAddress client() {
        return client;
    }

    public String method() {
        return method;
    }

    /** The path without the query (query values can carry secrets and never reach the audit log). */
    public String path() {
        return path;
    }

    public boolean hadQuery() {
        return hadQuery;
    }

    /** The status the client got (0 until a response head). */
    public int status() {
        return status;
    }

    /** Request body bytes read from the client and sent upstream. */
    public long bytesUp() {
        return bytesUp;
    }

    /** Response body bytes sent to the client. */
    public long bytesDown() {
        return bytesDown;
    }

    /** How the call ended; null while it is in progress. */
    public Outcome outcome() {
        return outcome;
    }

    /** The request's {@code Content-Type}, or null when it sent none. */
    public String requestContentType() {
        return requestContentType;
    }

    /** The request's {@code Content-Encoding}, or null when it sent none. */
    public String requestContentEncoding() {
        return requestContentEncoding;
    }

    /** Nanosecond timestamp ({@link System#nanoTime()}) at which the request head arrived. */
    public long startNanos() {
        return startNanos;
    }
}
