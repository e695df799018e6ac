package dev.enclave.config;

import dev.enclave.config.match.HostName;
import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import dev.enclave.config.match.IpLiteral;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * A fixed answer for one name, like curl's {@code --resolve}: {@code NAME=IP} pins the name on
 * every port; {@code NAME:PORT=IP:PORT} also redirects that port (curl's {@code --connect-to}),
 * which lets a test server on a high port stand in for {@code api.example.com:443}.
 * A pinned address still goes through the address-class check.
 */
public record ResolvePin(String host, int port, InetAddress address, int targetPort) {

    /** {@code port} and {@code targetPort} are 0 when the pin applies to every port unchanged. */
    public static ResolvePin parse(String text) throws IllegalArgumentException {
        int eq = text.indexOf('=');
        if (eq < 0) {
            throw new IllegalArgumentException("\"" + text + "\" is not NAME=IP; write e.g. \"api.example.com=192.0.2.10\"");
        }
        String left = text.substring(0, eq);
        String right = text.substring(eq + 1);
        try {
            if (left.contains(":")) {
                HostPort from = HostPort.parse(left);
                int colon = right.lastIndexOf(':');
                if (colon < 0 || right.endsWith("]")) {
                    throw new IllegalArgumentException("\"" + text + "\": a pin with a port needs IP:PORT on the right");
                }
                InetAddress to = numeric(right.substring(0, colon), text);
                return new ResolvePin(from.host(), from.port(), to, HostPort.parsePort(right.substring(colon + 1)));
            }
            return new ResolvePin(HostName.normalize(left), 0, numeric(right, text), 0);
        } catch (HostSyntaxException e) {
            throw new IllegalArgumentException("\"" + text + "\": " + e.getMessage());
        }
    }

    private static InetAddress numeric(String ip, String text) {
        String bare = ip.startsWith("[") && ip.endsWith("]") ? ip.substring(1, ip.length() - 1) : ip;
        byte[] bytes = IpLiteral.parse(bare);
        if (bytes == null) {
            throw new IllegalArgumentException("\"" + text + "\": '" + ip + "' is not a numeric IP address");
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** True when this pin answers for {@code target}. */
    public boolean appliesTo(HostPort target) {
        return host.equals(target.host()) && (port == 0 || port == target.port());
    }

    /** The port to connect to for {@code requestedPort}. */
    public int connectPort(int requestedPort) {
        return targetPort == 0 ? requestedPort : targetPort;
    }
}
