package dev.enclave.gateway.proxy;

/**
 * Fired through the client pipeline when a response has been written in full, so the handlers
 * in front take the next pipelined request only then (responses stay in request order).
 */
public final class ExchangeDone {
    public static final ExchangeDone INSTANCE = new ExchangeDone();

    private ExchangeDone() {
    }
}
