package dev.enclave.config;

import java.time.Duration;

/**
 * Resource bounds of the egress proxy. Defaults: a CONNECT head is a few hundred bytes, so 32 KiB
 * leaves room for plain-HTTP headers; 10 s to send a head stops slowloris; 10 s to connect; 15 min
 * of silence before a tunnel is closed, longer than any streamed LLM answer pauses.
 */
public record EgressLimits(int maxHeadBytes, Duration headTimeout, Duration connectTimeout,
                           Duration idleTimeout, int maxConnections) {

    public static final EgressLimits DEFAULTS = new EgressLimits(
            32 * 1024, Duration.ofSeconds(10), Duration.ofSeconds(10), Duration.ofMinutes(15), 4096);
}
