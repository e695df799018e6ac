package dev.enclave.config;

import java.time.Duration;

/**
 * Resource bounds of one LLM relay listener ({@code llm[].limits}). Entries that share a listen
 * address share one listener, so they must give the same limits. Defaults: 1024 connections, far
 * more than one app keeps open (each call holds one, plus its client's idle keep-alive pool); 10 s
 * to send a whole request head, as for the egress proxy, which stops slowloris without cutting a
 * real client (its head is a few hundred bytes sent at once).
 *
 * @param maxConnections connections open at once; a new one past it is answered 503, closed and audited
 * @param headTimeout    from a connection's start, or the first byte after the previous call, to a complete request head
 */
public record LlmLimits(int maxConnections, Duration headTimeout) {
    public static final LlmLimits DEFAULTS = new LlmLimits(1024, Duration.ofSeconds(10));
}
