package dev.enclave.gateway.proxy;

/** One request in flight on a client connection: what the access audit line and the relay need. */
final class Exchange {
    final String method;
    final String path;
    final String user;
    /** "h2", "http/1.1" or "http/1.0": how the client spoke, for the access line. */
    final String proto;
    final boolean keepAlive;
    final boolean upgrade;
    final long startNanos = System.nanoTime();
    int status;
    long bytesOut;

    Exchange(String method, String path, String user, String proto, boolean keepAlive, boolean upgrade) {
        this.method = method;
        this.path = path;
        this.user = user;
        this.proto = proto;
        this.keepAlive = keepAlive;
        this.upgrade = upgrade;
    }
}
