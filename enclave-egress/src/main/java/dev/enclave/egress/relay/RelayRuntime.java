package dev.enclave.egress.relay;

import dev.enclave.audit.AuditLog;

/** What every call to one upstream shares: its paths, how its key goes in, the key, the connections, the observers. */
record RelayRuntime(RelayPathPolicy paths, ApiKeyInjector injector, RelayKeySource key, RelayUpstream upstream,
                    AuditLog audit, RelayCallObserver.Factory observers) {
}
