package dev.enclave.egress.relay;

import dev.enclave.audit.AuditLog;
import java.util.function.Supplier;

/** What every client connection of one relay shares. */
record RelayRuntime(RelayPathPolicy paths, ApiKeyInjector injector, Supplier<String> key, RelayUpstream upstream,
                    AuditLog audit, RelayCallObserver.Factory observers) {
}
