package dev.enclave.gateway;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What the gateway needs to run. {@code tlsCert}/{@code tlsKey} null means a self-signed
 * certificate in {@code stateDir} for {@code names} and the listen address.
 */
public record GatewaySettings(InetSocketAddress listen, InetSocketAddress redirectHttp, URI upstream, Path users,
                              Path stateDir, Path tlsCert, Path tlsKey, List<String> names, int maxHeadBytes,
                              Duration upgradedIdle, int maxFailures, Duration failureWindow, Duration ban) {

    public GatewaySettings {
        names = List.copyOf(names);
    }
}
