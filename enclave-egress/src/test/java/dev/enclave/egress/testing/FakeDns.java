package dev.enclave.egress.testing;

import java.io.ByteArrayOutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A UDP DNS server on loopback that answers A queries from a script: each name has a queue of
 * IPv4 answers (the last one repeats), every other name or type gets NXDOMAIN / an empty answer.
 * Answers carry TTL 0 so a resolver cache cannot hide a changed answer. Counts the queries.
 */
public final class FakeDns implements AutoCloseable {
    private final DatagramSocket socket;
    private final Map<String, Deque<byte[]>> answers = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> queries = new ConcurrentHashMap<>();
    private final Thread thread;

    public FakeDns() throws SocketException {
        socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
        thread = new Thread(this::serve, "fake-dns");
        thread.setDaemon(true);
        thread.start();
    }

    /** Answers {@code name} with these IPv4 addresses in turn, one per query. */
    public FakeDns answer(String name, String... ipv4) {
        Deque<byte[]> q = new ArrayDeque<>();
        for (String ip : ipv4) {
            try {
                q.add(InetAddress.getByName(ip).getAddress());
            } catch (Exception e) {
                throw new IllegalArgumentException(ip, e);
            }
        }
        answers.put(name.toLowerCase(Locale.ROOT), q);
        return this;
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) socket.getLocalSocketAddress();
    }

    /** A-record queries received for {@code name}. */
    public int queries(String name) {
        AtomicInteger n = queries.get(name.toLowerCase(Locale.ROOT));
        return n == null ? 0 : n.get();
    }

    private void serve() {
        byte[] buf = new byte[512];
        while (!socket.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                byte[] reply = answerFor(java.util.Arrays.copyOf(p.getData(), p.getLength()));
                if (reply != null) {
                    socket.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
                }
            } catch (Exception e) {
                if (socket.isClosed()) {
                    return;
                }
            }
        }
    }

    private byte[] answerFor(byte[] q) {
        if (q.length < 12) {
            return null;
        }
        int i = 12;
        StringBuilder name = new StringBuilder();
        while (i < q.length && q[i] != 0) {
            int len = q[i] & 0xff;
            if (name.length() > 0) {
                name.append('.');
            }
            name.append(new String(q, i + 1, len, java.nio.charset.StandardCharsets.US_ASCII));
            i += len + 1;
        }
        int qtype = ((q[i + 1] & 0xff) << 8) | (q[i + 2] & 0xff);
        int questionEnd = i + 5;
        String qname = name.toString().toLowerCase(Locale.ROOT);
        Deque<byte[]> queue = answers.get(qname);
        byte[] address = null;
        if (queue != null && qtype == 1) {
            queries.computeIfAbsent(qname, k -> new AtomicInteger()).incrementAndGet();
            synchronized (queue) {
                address = queue.size() > 1 ? queue.poll() : queue.peek();
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(q[0]);
        out.write(q[1]);
        out.write(0x81);                                        // QR, RD
        out.write(queue == null ? 0x83 : 0x80);                 // RA, rcode NXDOMAIN or NOERROR
        out.write(0);
        out.write(1);                                           // QDCOUNT
        out.write(0);
        out.write(address == null ? 0 : 1);                     // ANCOUNT
        out.write(0);
        out.write(0);
        out.write(0);
        out.write(0);
        out.write(q, 12, questionEnd - 12);
        if (address != null) {
            out.write(0xc0);
            out.write(12);                                      // pointer to the question name
            out.write(0);
            out.write(1);                                       // TYPE A
            out.write(0);
            out.write(1);                                       // CLASS IN
            out.write(0);
            out.write(0);
            out.write(0);
            out.write(0);                                       // TTL 0
            out.write(0);
            out.write(4);
            out.write(address, 0, 4);
        }
        return out.toByteArray();
    }

    @Override
    public void close() {
        socket.close();
    }
}
