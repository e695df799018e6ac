package dev.enclave.gateway.session;

import java.time.Instant;

/**
 * A browser session as the gateway sees it: whose it is, when the login happened, and when it was
 * last used ({@code lastSeen} is kept at a coarse granularity, see {@link SessionStore}).
 */
public record Session(String user, Instant created, Instant lastSeen) {
}
