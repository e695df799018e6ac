package dev.enclave.config;

import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import dev.enclave.config.match.IpLiteral;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parsers for scalar values shared by the config file and command-line flags. Each throws
 * {@link IllegalArgumentException} whose message says what is wrong and how to write it.
 */
public final class ConfigValues {
    private static final Pattern DURATION = Pattern.compile("([0-9]{1,9})(ms|s|m|h|d)");
    private static final Pattern SIZE = Pattern.compile("([0-9]{1,9})(B|KiB|MiB)?");

    private ConfigValues() {
    }

    /** {@code 500ms}, {@code 30s}, {@code 10m}, {@code 1h}, {@code 7d}. */
    public static Duration duration(String text) {
        Matcher m = DURATION.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("bad duration \"" + text + "\"; write a number and a unit: 500ms, 30s, 10m, 1h, 7d");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofDays(n);
        };
    }

    /** {@code 65536}, {@code 64KiB}, {@code 1MiB}. */
    public static long size(String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("bad size \"" + text + "\"; write bytes or a number with KiB or MiB, e.g. 32KiB");
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "B" : m.group(2);
        return switch (unit) {
            case "KiB" -> n * 1024;
            case "MiB" -> n * 1024 * 1024;
            default -> n;
        };
    }

    /**
     * A socket address to bind or reach, {@code IP:PORT} or {@code [IPv6]:PORT}, numeric only:
     * a listen address that needs DNS would make start-up depend on the resolver.
     */
    public static InetSocketAddress socketAddress(String text) {
        int colon = text.lastIndexOf(':');
        String hint = "; write IP:PORT, e.g. 127.0.0.1:3128 or [::1]:3128";
        if (colon < 0 || colon < text.lastIndexOf(']')) {
            throw new IllegalArgumentException("\"" + text + "\" has no port" + hint);
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new IllegalArgumentException("\"" + text + "\": IPv6 addresses need brackets" + hint);
        }
        InetAddress address = IpLiteral.toAddress(host);
        if (address == null) {
            throw new IllegalArgumentException("\"" + text + "\": '" + host + "' is not a numeric IP address" + hint);
        }
        String portText = text.substring(colon + 1);
        int port;
        if (portText.equals("0")) {
            port = 0;
        } else {
            try {
                port = HostPort.parsePort(portText);
            } catch (HostSyntaxException e) {
                throw new IllegalArgumentException("\"" + text + "\": " + e.getMessage());
            }
        }
        return new InetSocketAddress(address, port);
    }
}
