package dev.enclave.egress;

import dev.enclave.egress.policy.Reason;

/** Emitted by {@link ProxyRequestDecoder} instead of a request when the head is refused. */
record RequestError(Reason reason, String detail) {
}
