package dev.enclave.cli.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * The "try to reach" box: asks the egress proxy ({@code HTTPS_PROXY}) for a URL as any app would
 * (CONNECT for https, a proxied GET for http) and says what the proxy answered, normally its
 * refusal and the reason.
 */
final class DemoReach {
    private static final int MAX_BODY = 16 * 1024;

    private final URI proxy;

    DemoReach(URI proxy) {
        this.proxy = proxy;
    }

    /** What the proxy said to {@code text} (one URL), as lines for a person to read. Blocks. */
    String reach(String text) {
        URI url;
        try {
            url = URI.create(text.strip());
        } catch (IllegalArgumentException e) {
            return "not a URL: " + e.getMessage();
        }
        if (url.getHost() == null || !("https".equals(url.getScheme()) || "http".equals(url.getScheme()))) {
            return "give an http:// or https:// URL, e.g. https://example.com/";
        }
        if (proxy == null || proxy.getHost() == null || proxy.getPort() == -1) {
            return "no egress proxy: HTTPS_PROXY is not set to http://HOST:PORT (enclave up sets it)";
        }
        boolean tls = url.getScheme().equals("https");
        int port = url.getPort() != -1 ? url.getPort() : tls ? 443 : 80;
        String target = url.getHost() + ":" + port;
        String head = tls ? "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
                : "GET " + url + " HTTP/1.1\r\nHost: " + target + "\r\nConnection: close\r\n\r\n";
        StringBuilder said = new StringBuilder();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(proxy.getHost(), proxy.getPort()), 5000);
            s.setSoTimeout(15_000);
            s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String status = in.readLine();
            said.append("egress proxy ").append(proxy.getHost()).append(':').append(proxy.getPort()).append(" answered: ").append(status).append('\n');
            String line;
            int length = 0;
            while ((line = in.readLine()) != null && !line.isEmpty()) {
                if (line.regionMatches(true, 0, "X-Enclave-Reason:", 0, 17)) {
                    said.append("reason: ").append(line.substring(17).strip()).append('\n');
                }
                if (line.regionMatches(true, 0, "Content-Length:", 0, 15)) {
                    length = Math.min(MAX_BODY, Integer.parseInt(line.substring(15).strip()));
                }
            }
            if (status != null && status.contains(" 200") && tls) {
                said.append("the proxy opened a tunnel to ").append(target).append(" (it is on the allowlist)\n");
            } else if (length > 0) {
                char[] body = new char[length];
                int n = in.read(body, 0, length);
                said.append(new String(body, 0, Math.max(n, 0)).strip()).append('\n');
            }
        } catch (IOException | NumberFormatException e) {
            said.append("cannot talk to the egress proxy at ").append(proxy).append(": ").append(e.getMessage()).append('\n');
        }
        return said.toString();
    }
}
