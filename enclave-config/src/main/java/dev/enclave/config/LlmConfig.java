package dev.enclave.config;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/** One entry of the {@code llm:} list (served by the LLM relay; validated here already). */
public record LlmConfig(String preset, InetSocketAddress listen, URI upstream, String keyEnv, Path keyFile,
                        List<String> paths, long tokensPerDay) {
}
