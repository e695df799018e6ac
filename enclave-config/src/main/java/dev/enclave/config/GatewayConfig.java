package dev.enclave.config;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** The {@code gateway:} section (served by the ingress gateway; validated here already). */
public record GatewayConfig(InetSocketAddress listen, InetSocketAddress redirectHttp, Tls tls, Auth auth,
                            Lockout lockout, URI upstream) {

    public record Tls(String mode, List<String> names, Path cert, Path key) {
    }

    public record Auth(String mode, Path users, String service) {
    }

    public record Lockout(int maxFailures, Duration window, Duration ban) {
    }
}
