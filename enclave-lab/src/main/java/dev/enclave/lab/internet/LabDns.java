package dev.enclave.lab.internet;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Writer;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;

/**
 * The internet's resolver: a UDP DNS server that answers A queries for the lab's names (TTL 0, so
 * no cache hides a changed answer), NXDOMAIN for every other name and an empty answer for other
 * types of a known name, and writes every query it receives to its log, one line each:
 * {@code TIME SOURCE TYPE NAME}. That log is where a DNS exfiltration attempt would show up.
 */
final class LabDns implements AutoCloseable {
    private final DatagramSocket socket;
    private final Map<String, byte[]> answers;
    private final Writer log;
    private final Thread thread;
    private final Map<String, byte[]> overrides = new java.util.concurrent.ConcurrentHashMap<>();

    LabDns(InetSocketAddress at, Map<String, String> names, Writer log) throws IOException {
        this.answers = new java.util.HashMap<>();
        for (Map.Entry<String, String> e : names.entrySet()) {
            answers.put(e.getKey().toLowerCase(Locale.ROOT), InetAddress.getByName(e.getValue()).getAddress());
        }
        this.log = log;
        this.socket = new DatagramSocket(at);
        this.thread = new Thread(this::serve, "lab-dns");
        thread.setDaemon(true);
        thread.start();
    }

    private void serve() {
        byte[] buf = new byte[1500];
        while (!socket.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                byte[] reply = answer(java.util.Arrays.copyOf(p.getData(), p.getLength()), p.getAddress());
                if (reply != null) {
                    socket.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
                }
            } catch (IOException | RuntimeException e) {
                if (socket.isClosed()) {
                    return;
                }
            }
        }
    }

    private byte[] answer(byte[] q, InetAddress from) throws IOException {
        if (q.length < 17 || (q[2] & 0x80) != 0) {
            return null; // too short for one question, or not a query
        }
        int i = 12;
        StringBuilder name = new StringBuilder();
        while (i < q.length && q[i] != 0) {
            int len = q[i] & 0xff;
            if (len > 63 || i + 1 + len > q.length) {
                return null; // compression or garbage in a question: not from a real client
            }
            if (name.length() > 0) {
                name.append('.');
            }
            name.append(new String(q, i + 1, len, StandardCharsets.US_ASCII));
            i += len + 1;
        }
        if (i + 5 > q.length) {
            return null;
        }
        int qtype = ((q[i + 1] & 0xff) << 8) | (q[i + 2] & 0xff);
        int questionEnd = i + 5;
        String qname = name.toString().toLowerCase(Locale.ROOT);
        synchronized (log) {
            log.write(Instant.now() + " " + from.getHostAddress() + " " + type(qtype) + " " + qname + "\n");
            log.flush();
        }
        byte[] address = overrides.getOrDefault(qname, answers.get(qname));
        boolean known = address != null;
        if (qtype != 1) {
            address = null;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(q[0]);
        out.write(q[1]);
        out.write(0x81 | (q[2] & 0x01));                         // QR, opcode 0, RD copied
        out.write(known ? 0x80 : 0x83);                          // RA, NOERROR or NXDOMAIN
        out.write(new byte[] {0, 1, 0, (byte) (address == null ? 0 : 1), 0, 0, 0, 0});
        out.write(q, 12, questionEnd - 12);
        if (address != null) {
            out.write(new byte[] {(byte) 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4}); // name pointer, A, IN, TTL 0, 4 bytes
            out.write(address);
        }
        return out.toByteArray();
    }

    /** From now on answers {@code name} with {@code ipv4} (null: with its address from the start again). */
    void answer(String name, String ipv4) throws IOException {
        if (ipv4 == null) {
            overrides.remove(name);
        } else {
            overrides.put(name, InetAddress.getByName(ipv4).getAddress());
        }
    }

    private static String type(int qtype) {
        return switch (qtype) {
            case 1 -> "A";
            case 28 -> "AAAA";
            case 16 -> "TXT";
            case 5 -> "CNAME";
            case 15 -> "MX";
            case 2 -> "NS";
            default -> "TYPE" + qtype;
        };
    }

    @Override
    public void close() {
        socket.close();
    }
}
