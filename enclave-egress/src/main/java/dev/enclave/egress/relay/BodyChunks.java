package dev.enclave.egress.relay;

import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.FastThreadLocal;

/** Hands the readable bytes of a {@link ByteBuf} to a byte-array consumer without moving its reader index. */
final class BodyChunks {
    private static final int SCRATCH_BYTES = 8192;
    /**
     * One scratch array per thread (an event loop), not per body: a call's bodies are a few hundred
     * bytes, and two fresh 8 KiB arrays per call were a third of the relay's allocation (JFR, bench/relay.sh).
     * Safe because a sink consumes its bytes before {@link #feed} returns and never feeds another BodyChunks.
     */
    private static final FastThreadLocal<byte[]> SCRATCH = new FastThreadLocal<>() {
        @Override
        protected byte[] initialValue() {
            return new byte[SCRATCH_BYTES];
        }
    };

    interface Sink {
        void feed(byte[] bytes, int offset, int length);
    }

    /** Heap buffers are read in place; direct ones are copied through the thread's 8 KiB scratch array. */
    void feed(ByteBuf buf, Sink sink) {
        int index = buf.readerIndex();
        int remaining = buf.readableBytes();
        if (buf.hasArray()) {
            sink.feed(buf.array(), buf.arrayOffset() + index, remaining);
            return;
        }
        byte[] scratch = SCRATCH.get();
        while (remaining > 0) {
            int n = Math.min(remaining, scratch.length);
            buf.getBytes(index, scratch, 0, n);
            sink.feed(scratch, 0, n);
            index += n;
            remaining -= n;
        }
    }
}
