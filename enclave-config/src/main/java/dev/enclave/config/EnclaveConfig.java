package dev.enclave.config;

import java.util.List;

/**
 * A whole {@code enclave.yaml}. Sections that the file leaves out are null (or empty for
 * {@code llm} and {@code app.command}); each component applies its own defaults.
 */
public record EnclaveConfig(String source, Target target, GatewayConfig gateway, EgressConfig egress,
                            List<LlmConfig> llm, List<String> appCommand, AuditConfig audit, AwsConfig aws,
                            HostConfig host) {

    public EnclaveConfig {
        llm = List.copyOf(llm);
        appCommand = List.copyOf(appCommand);
    }
}
