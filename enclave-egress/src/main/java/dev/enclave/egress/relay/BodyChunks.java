package dev.enclave.egress.relay;

import io.netty.buffer.ByteBuf;

/** Hands the readable bytes of a {@link ByteBuf} to a byte-array consumer without moving its reader index. */
final class BodyChunks {
    private static final int SCRATCH_BYTES = 8192;

    interface Sink {
        void feed(byte[] bytes, int offset, int length);
    }

    private byte[] scratch;

    /** Heap buffers are read in place; direct ones are copied through one reused 8 KiB array. */
    void feed(ByteBuf buf, Sink sink) {
        int index = buf.readerIndex();
        int remaining = buf.readableBytes();
        if (buf.hasArray()) {
            sink.feed(buf.array(), buf.arrayOffset() + index, remaining);
            return;
        }
        if (scratch == null) {
            scratch = new byte[SCRATCH_BYTES];
        }
        while (remaining > 0) {
            int n = Math.min(remaining, scratch.length);
            buf.getBytes(index, scratch, 0, n);
            sink.feed(scratch, 0, n);
            index += n;
            remaining -= n;
        }
    }
}
