package dev.enclave.egress.relay;

import dev.enclave.audit.AuditEvent;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpResponse;

/**
 * The extension point of the relay: one observer per call sees the call's admission, its body
 * bytes in both directions as they stream through, and its audit line before it is written. This
 * is where a model/usage reader (request {@code model}, response {@code usage}) and a budget
 * (429 when over) plug in, without the relay itself parsing bodies.
 *
 * <p>All methods run on the connection's event loop and must not block. The {@link ByteBuf}s are
 * read-only views valid only during the call: read them (e.g. with {@code getBytes}) but do not
 * retain or release them. None of this ever sees the API key: it is set on the upstream request
 * head only, after {@link #admit}.
 */
public interface RelayCallObserver {
    /** Observes nothing. */
    RelayCallObserver NONE = new RelayCallObserver() {
    };

    /** Creates the observer of each call; {@link Factory#NONE} for none. */
    @FunctionalInterface
    interface Factory {
        Factory NONE = call -> RelayCallObserver.NONE;

        RelayCallObserver start(RelayCall call);
    }

    /**
     * A refusal the relay sends instead of forwarding (e.g. 429 over budget).
     *
     * @param retryAfterSeconds sent as {@code Retry-After} when above 0
     */
    record Refusal(int status, String code, String text, long retryAfterSeconds) {
        public Refusal(int status, String code, String text) {
            this(status, code, text, 0);
        }
    }

    /** Called once the path and method are allowed, before anything goes upstream; null lets the call go on. */
    default Refusal admit(RelayCall call) {
        return null;
    }

    /** A piece of the request body, as it goes upstream. */
    default void requestBody(RelayCall call, ByteBuf content) {
    }

    /** The upstream's response head (after hop-by-hop headers were removed), as it goes to the client. */
    default void responseHead(RelayCall call, HttpResponse head) {
    }

    /** A piece of the response body, as it goes to the client. */
    default void responseBody(RelayCall call, ByteBuf content) {
    }

    /** The call ended (any {@link RelayCall.Outcome}); add fields to its audit line here (e.g. model, tokens). */
    default void finished(RelayCall call, AuditEvent auditLine) {
    }
}
