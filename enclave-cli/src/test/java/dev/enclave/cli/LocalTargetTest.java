package dev.enclave.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.enclave.config.ConfigLoader;
import dev.enclave.config.EnclaveConfig;
import dev.enclave.config.LlmConfig;
import dev.enclave.host.FirewallPlan;
import dev.enclave.host.HostRuleset;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The defaults 'enclave up' writes are the issue's, and a config the local target cannot run is refused naming the key. */
class LocalTargetTest {

    @Test
    void theBuiltInDefaultsAreTheIssues() throws Exception {
        EnclaveConfig config = ConfigLoader.parse(LocalTarget.DEFAULT_CONFIG, "enclave.yaml");
        LocalTarget target = LocalTarget.of(Path.of("/var/lib/enclave"), Path.of("/var/lib/enclave/enclave.yaml"), config, null);
        assertThat(target.namespace.name()).isEqualTo("enclave-app");
        assertThat(target.namespace.hostAddress().getHostAddress()).isEqualTo("10.77.1.1");
        assertThat(target.appAddress()).isEqualTo(new InetSocketAddress("10.77.1.2", 3000));
        assertThat(config.gateway().listen()).isEqualTo(new InetSocketAddress("0.0.0.0", 8443));
        assertThat(config.egress().listen()).isEqualTo(new InetSocketAddress("10.77.1.1", 3128));
        assertThat(config.egress().allow()).as("the LLM is reached through the relay only").isEmpty();
        assertThat(config.llm()).hasSize(1);
        LlmConfig llm = config.llm().get(0);
        assertThat(llm.listen()).isEqualTo(new InetSocketAddress("10.77.1.1", 4000));
        assertThat(llm.upstream()).isEqualTo(URI.create("https://api.openai.com"));
        assertThat(llm.keyEnv()).isEqualTo("ENCLAVE_LLM_API_KEY");
        assertThat(config.appCommand()).as("the built-in demo app").isEmpty();
        // The firewall 'enclave up' applies is the one 'enclave host apply' renders without a config.
        FirewallPlan fromFile = FirewallPlan.from(config);
        FirewallPlan builtIn = FirewallPlan.localDefaults();
        assertThat(fromFile.destinations()).isEqualTo(builtIn.destinations());
        assertThat(fromFile.gatewaySource()).isEqualTo(builtIn.gatewaySource());
        assertThat(fromFile.appPorts()).isEqualTo(builtIn.appPorts());
        assertThat(HostRuleset.of(fromFile).chains()).isEqualTo(HostRuleset.of(builtIn).chains());
    }

    @Test
    void theAppSeesTheProxyAndTheRelayAndOnlyAPlaceholderKey() throws Exception {
        EnclaveConfig config = ConfigLoader.parse(LocalTarget.DEFAULT_CONFIG, "enclave.yaml");
        LocalTarget target = LocalTarget.of(Path.of("/var/lib/enclave"), Path.of("/var/lib/enclave/enclave.yaml"), config, null);
        Map<String, String> env = AppLauncher.environment(target);
        assertThat(env).containsEntry("HTTPS_PROXY", "http://10.77.1.1:3128").containsEntry("https_proxy", "http://10.77.1.1:3128")
                .containsEntry("HTTP_PROXY", "http://10.77.1.1:3128").containsEntry("http_proxy", "http://10.77.1.1:3128")
                .containsEntry("OPENAI_BASE_URL", "http://10.77.1.1:4000/v1").containsEntry("LLM_BASE_URL", "http://10.77.1.1:4000/v1")
                .containsEntry("OPENAI_API_KEY", AppLauncher.PLACEHOLDER_KEY);
        assertThat(env.get("NO_PROXY")).contains("10.77.1.1");
        assertThat(env.get("no_proxy")).isEqualTo(env.get("NO_PROXY"));
        assertThat(env.keySet()).doesNotContain("ENCLAVE_LLM_API_KEY");
    }

    @Test
    void aRelayOffTheHostSideIsRefusedNamingTheKey() throws Exception {
        EnclaveConfig config = ConfigLoader.parse(LocalTarget.DEFAULT_CONFIG.replace("listen: 10.77.1.1:4000", "listen: 10.77.2.1:4000"), "enclave.yaml");
        assertThatThrownBy(() -> LocalTarget.of(Path.of("/s"), Path.of("/s/enclave.yaml"), config, null))
                .isInstanceOf(UserError.class).hasMessageContaining("llm[0].listen: 10.77.2.1 is not the host side");
    }

    @Test
    void aGatewaySourceTheFirewallWouldNotAdmitIsRefused() throws Exception {
        EnclaveConfig config = ConfigLoader.parse(LocalTarget.DEFAULT_CONFIG + "host:\n  gateway_source: 10.77.1.9\n", "enclave.yaml");
        assertThatThrownBy(() -> LocalTarget.of(Path.of("/s"), Path.of("/s/enclave.yaml"), config, null))
                .hasMessageContaining("host.gateway_source: 10.77.1.9").hasMessageContaining("set gateway_source: 10.77.1.1");
    }

    @Test
    void anAppOutsideTheHostSidesSlash24IsRefused() throws Exception {
        EnclaveConfig config = ConfigLoader.parse(LocalTarget.DEFAULT_CONFIG.replace("http://10.77.1.2:3000", "http://10.77.5.2:3000"), "enclave.yaml");
        assertThatThrownBy(() -> LocalTarget.of(Path.of("/s"), Path.of("/s/enclave.yaml"), config, null))
                .hasMessageContaining("one /24");
    }
}
