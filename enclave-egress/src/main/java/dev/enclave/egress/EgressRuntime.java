package dev.enclave.egress;

import dev.enclave.audit.AuditLog;
import dev.enclave.config.EgressLimits;
import dev.enclave.egress.policy.EgressPolicy;
import io.netty.channel.socket.SocketChannel;

/** What one connection needs from the server: the policy in force when it was accepted, and shared services. */
record EgressRuntime(EgressPolicy policy, EgressResolver resolver, EgressLimits limits,
                     Class<? extends SocketChannel> channelType, AuditLog audit) {
}
