package dev.enclave.lab.internet;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** pool.ntp.org in the lab, over real UDP on loopback. */
class LabNtpTest {
    @Test
    void answersAClientPacketWithAServerPacketCarryingTheTime() throws Exception {
        int port;
        try (DatagramSocket probe = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            port = probe.getLocalPort();
        }
        try (LabNtp ntp = new LabNtp(new InetSocketAddress("127.0.0.1", port)); DatagramSocket s = new DatagramSocket()) {
            byte[] q = new byte[48];
            q[0] = 0x1b; // version 3, mode 3 (client), as ntpdate sends
            q[40] = 0x55; // the client's transmit time, echoed back as originate
            s.setSoTimeout(5000);
            long before = System.currentTimeMillis() / 1000 + 2_208_988_800L;
            s.send(new DatagramPacket(q, q.length, InetAddress.getByName("127.0.0.1"), port));
            DatagramPacket reply = new DatagramPacket(new byte[100], 100);
            s.receive(reply);
            long after = System.currentTimeMillis() / 1000 + 2_208_988_800L;
            byte[] r = reply.getData();
            assertThat(reply.getLength()).isEqualTo(48);
            assertThat(r[0] & 0x07).as("mode 4, server").isEqualTo(4);
            assertThat((r[0] >> 3) & 0x07).as("the client's version").isEqualTo(3);
            assertThat(r[1]).as("stratum").isEqualTo((byte) 2);
            assertThat(r[24]).as("originate = the client's transmit").isEqualTo((byte) 0x55);
            long transmit = ((r[40] & 0xffL) << 24) | ((r[41] & 0xffL) << 16) | ((r[42] & 0xffL) << 8) | (r[43] & 0xffL);
            assertThat(transmit).isBetween(before, after);
        }
    }
}
