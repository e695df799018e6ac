package dev.enclave.gateway.proxy;

import io.netty.handler.codec.http.HttpRequest;

/** One request in flight on a client connection: what the access audit line and the relay need. */
final class Exchange {
    final String method;
    final String path;
    final String user;
    /** "h2", "http/1.1" or "http/1.0": how the client spoke, for the access line. */
    final String proto;
    final boolean keepAlive;
    final boolean upgrade;
    /** The request head to send again if a reused upstream connection fails before answering; null when not safe to repeat. */
    final HttpRequest replay;
    final long startNanos = System.nanoTime();
    /** Some of the response has gone to the client: from here on the request is never repeated. */
    boolean answered;
    int status;
    long bytesOut;

    Exchange(String method, String path, String user, String proto, boolean keepAlive, boolean upgrade, HttpRequest replay) {
        this.method = method;
        this.path = path;
        this.user = user;
        this.proto = proto;
        this.keepAlive = keepAlive;
        this.upgrade = upgrade;
        this.replay = replay;
    }
}
