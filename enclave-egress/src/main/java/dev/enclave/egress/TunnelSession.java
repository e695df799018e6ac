package dev.enclave.egress;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.config.EgressMode;
import dev.enclave.egress.policy.Decision;
import java.net.InetSocketAddress;

/**
 * Everything known about one client connection, written as exactly one audit line when the
 * connection ends (or at once when it is refused). All fields are touched only on the client
 * channel's event loop (the upstream channel shares it), so nothing here needs locking.
 */
final class TunnelSession {
    private final long startNanos = System.nanoTime();
    private final InetSocketAddress client;
    private final AuditLog audit;
    private final EgressMode mode;
    private String method;
    private String requested;
    private InetSocketAddress destination;
    private String sni;
    private Decision decision;
    private long bytesUp;
    private long bytesDown;
    private boolean written;

    TunnelSession(InetSocketAddress client, AuditLog audit, EgressMode mode) {
        this.client = client;
        this.audit = audit;
        this.mode = mode;
    }

    void request(String method, String requested) {
        this.method = method;
        this.requested = requested;
    }

    void destination(InetSocketAddress destination) {
        this.destination = destination;
    }

    void sni(String sni) {
        this.sni = sni;
    }

    void decision(Decision decision) {
        this.decision = decision;
    }

    Decision decision() {
        return decision;
    }

    void addUp(long n) {
        bytesUp += n;
    }

    void addDown(long n) {
        bytesDown += n;
    }

    /** Writes the audit line once; later calls do nothing. Connections with no decision are not audited. */
    void finish() {
        if (written || decision == null) {
            return;
        }
        written = true;
        AuditEvent e = AuditEvent.of("egress", "CONNECT".equals(method) ? "tunnel" : "request")
                .put("client", client.getAddress().getHostAddress() + ":" + client.getPort())
                .put("method", method)
                .put("target", requested)
                .put("resolved", destination == null ? null
                        : destination.getAddress().getHostAddress() + ":" + destination.getPort())
                .put("sni", sni)
                .put("decision", decision.verdict().code())
                .put("reason", decision.reason().code())
                .put("rule", decision.rule())
                .put("detail", decision.detail())
                .put("bytes_up", bytesUp)
                .put("bytes_down", bytesDown)
                .put("duration_ms", (System.nanoTime() - startNanos) / 1_000_000);
        if (mode == EgressMode.REPORT) {
            e.put("mode", "report");
        }
        audit.write(e);
    }
}
