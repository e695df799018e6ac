package dev.enclave.gateway.proxy;

import io.netty.channel.Channel;
import io.netty.util.Attribute;
import io.netty.util.AttributeKey;

/**
 * The one owner of a client channel's {@code autoRead}: several handlers have their own reason to
 * stop reading the client, and reading resumes only when none of them is left. A handler that set
 * {@code autoRead} itself could resume reading that another still needs paused (the upstream
 * draining used to resume a client whose pipelined requests the AuthHandler was holding, which then
 * held every request the client sent). Called on the channel's event loop only.
 */
public final class ReadPauses {
    /** Why the client is not being read. */
    public enum Reason {
        /** Requests are held: a password is being checked, or they are pipelined behind a response in progress. */
        AUTH_HOLDING,
        /** The upstream connection has more of this client's bytes queued than its high water mark. */
        UPSTREAM_FULL,
        /** The connection is being refused; nothing more it sends is wanted. */
        REFUSING
    }

    private static final AttributeKey<Integer> REASONS = AttributeKey.valueOf("enclave.readPauses");

    private ReadPauses() {
    }

    public static void pause(Channel client, Reason why) {
        Attribute<Integer> a = client.attr(REASONS);
        int reasons = a.get() == null ? 0 : a.get();
        update(client, a, reasons | 1 << why.ordinal());
    }

    public static void resume(Channel client, Reason why) {
        Attribute<Integer> a = client.attr(REASONS);
        int reasons = a.get() == null ? 0 : a.get();
        update(client, a, reasons & ~(1 << why.ordinal()));
    }

    /** Whether {@code why} is one of the reasons the client is not read now. */
    public static boolean pausedFor(Channel client, Reason why) {
        Integer reasons = client.attr(REASONS).get();
        return reasons != null && (reasons & 1 << why.ordinal()) != 0;
    }

    private static void update(Channel client, Attribute<Integer> a, int reasons) {
        a.set(reasons);
        client.config().setAutoRead(reasons == 0);
    }
}
