package dev.enclave.lab.internet;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;

/**
 * pool.ntp.org in the lab: answers each NTP client packet (mode 3) with a server packet (mode 4,
 * stratum 2) carrying the current time, enough for {@code ntpdate -q} and friends.
 */
final class LabNtp implements AutoCloseable {
    /** Seconds from 1900 (NTP's epoch) to 1970. */
    private static final long NTP_EPOCH_OFFSET = 2_208_988_800L;
    private final DatagramSocket socket;

    LabNtp(InetSocketAddress at) throws IOException {
        socket = new DatagramSocket(at);
        Thread t = new Thread(this::serve, "lab-ntp");
        t.setDaemon(true);
        t.start();
    }

    private void serve() {
        byte[] buf = new byte[512];
        while (!socket.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                if (p.getLength() < 48 || (buf[0] & 0x07) != 3) {
                    continue;
                }
                byte[] r = new byte[48];
                r[0] = (byte) ((buf[0] & 0x38) | 4);   // leap 0, client's version, mode 4 (server)
                r[1] = 2;                              // stratum 2
                r[2] = buf[2];
                r[3] = (byte) 0xec;                    // precision
                r[12] = 'L';
                r[13] = 'A';
                r[14] = 'B';
                long now = System.currentTimeMillis();
                System.arraycopy(buf, 40, r, 24, 8);   // originate = the client's transmit time
                writeTime(r, 16, now);                 // reference
                writeTime(r, 32, now);                 // receive
                writeTime(r, 40, now);                 // transmit
                socket.send(new DatagramPacket(r, r.length, p.getSocketAddress()));
            } catch (IOException | RuntimeException e) {
                if (socket.isClosed()) {
                    return;
                }
            }
        }
    }

    private static void writeTime(byte[] b, int at, long millis) {
        long seconds = millis / 1000 + NTP_EPOCH_OFFSET;
        long fraction = (millis % 1000) * 0x1_0000_0000L / 1000;
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) (seconds >>> (24 - 8 * i));
            b[at + 4 + i] = (byte) (fraction >>> (24 - 8 * i));
        }
    }

    @Override
    public void close() {
        socket.close();
    }
}
