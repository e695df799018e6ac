package dev.enclave.config;

import dev.enclave.config.match.Cidr;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/**
 * One entry of the {@code llm:} list, served by the LLM relay.
 *
 * @param preset            {@code openai}, {@code anthropic} or {@code azure}
 * @param listen            where the relay accepts the app's calls
 * @param upstream          the API's base URL (https)
 * @param keyEnv            environment variable holding the key, or null
 * @param keyFile           0600 file holding the key, or null
 * @param paths             allowed path prefixes; empty means the preset's defaults
 * @param tokensPerDay      prompt plus completion tokens per UTC day; 0 means no limit
 * @param authHeader        header that carries the key, or null for the preset's
 * @param authScheme        word before the key in that header ({@code Bearer}); "" for none; null for the preset's
 * @param requestsPerMinute calls in any 60 seconds; 0 means no limit
 * @param allowCidr         ranges the upstream may resolve to although their address class is denied
 * @param resolve           fixed answers for the upstream's name, taking precedence over DNS
 * @param ca                extra CA certificate (PEM) trusted for the upstream, or null for the JDK's only
 * @param limits            connection limit and request-head timeout of the entry's listener
 */
public record LlmConfig(String preset, InetSocketAddress listen, URI upstream, String keyEnv, Path keyFile,
                        List<String> paths, long tokensPerDay, String authHeader, String authScheme,
                        long requestsPerMinute, List<Cidr> allowCidr, List<ResolvePin> resolve, Path ca,
                        LlmLimits limits) {

    public LlmConfig {
        limits = limits == null ? LlmLimits.DEFAULTS : limits;
        paths = List.copyOf(paths);
        allowCidr = List.copyOf(allowCidr);
        resolve = List.copyOf(resolve);
    }

    /** An entry with the default limits. */
    public LlmConfig(String preset, InetSocketAddress listen, URI upstream, String keyEnv, Path keyFile,
                     List<String> paths, long tokensPerDay, String authHeader, String authScheme,
                     long requestsPerMinute, List<Cidr> allowCidr, List<ResolvePin> resolve, Path ca) {
        this(preset, listen, upstream, keyEnv, keyFile, paths, tokensPerDay, authHeader, authScheme, requestsPerMinute,
                allowCidr, resolve, ca, LlmLimits.DEFAULTS);
    }

    /** An entry with the preset's header and no rate limit, pins or extra CA. */
    public LlmConfig(String preset, InetSocketAddress listen, URI upstream, String keyEnv, Path keyFile,
                     List<String> paths, long tokensPerDay) {
        this(preset, listen, upstream, keyEnv, keyFile, paths, tokensPerDay, null, null, 0, List.of(), List.of(), null);
    }

    /** The upstream's port, 443 when the URL gives none. */
    public int upstreamPort() {
        return upstream.getPort() < 0 ? 443 : upstream.getPort();
    }
}
