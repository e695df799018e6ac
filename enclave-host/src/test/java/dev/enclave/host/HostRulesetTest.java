package dev.enclave.host;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.config.ConfigLoader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The rendered table, compared line for line with the golden files in {@code golden/}: those files
 * are the spec a security engineer reads (what gets out, what gets in, and why each rule exists).
 * That nft accepts them and that packets obey them is shown by the root tests in this package.
 */
class HostRulesetTest {

    @Test
    void theLocalDefaultsRenderAsTheGoldenFile() throws Exception {
        assertThat(HostRuleset.of(FirewallPlan.localDefaults()).render()).isEqualTo(resource("golden/local-defaults.nft"));
    }

    @Test
    void aConfigWithTwoRelaysAndExtraAllowsRendersAsTheGoldenFile() throws Exception {
        String name = "aws-two-relays-and-allows.yaml";
        Ruleset ruleset = HostRuleset.of(FirewallPlan.from(ConfigLoader.parse(resource("golden/" + name), name)));
        assertThat(ruleset.render()).isEqualTo(resource("golden/aws-two-relays-and-allows.nft"));
    }

    @Test
    void everyChainDropsByDefaultAheadOfDocker() {
        Ruleset ruleset = HostRuleset.of(FirewallPlan.localDefaults());
        assertThat(ruleset.chains()).extracting(Ruleset.Chain::name).containsExactly("output", "forward", "input");
        assertThat(ruleset.chains()).allSatisfy(c -> {
            assertThat(c.policy()).isEqualTo("drop");
            assertThat(c.priority()).isEqualTo("filter - 10");
            assertThat(c.rules()).allSatisfy(r -> assertThat(r.why()).as("why of " + r.statement()).isNotEmpty());
        });
    }

    @Test
    void theMetadataServiceIsRefusedBeforeAnythingIsAcceptedOnTheWayOut() {
        Ruleset ruleset = HostRuleset.of(FirewallPlan.localDefaults());
        for (String chain : List.of("output", "forward")) {
            Ruleset.Rule first = ruleset.chains().stream().filter(c -> c.name().equals(chain)).findFirst().orElseThrow().rules().get(0);
            assertThat(first.statement()).as(chain).isEqualTo("ip daddr 169.254.169.254 counter drop");
        }
    }

    @Test
    void noRuleAdmitsNewTrafficWithoutNamingAnIpv4AddressSoIpv6IsDropped() {
        Ruleset ruleset = HostRuleset.of(FirewallPlan.localDefaults());
        for (Ruleset.Chain c : ruleset.chains()) {
            for (Ruleset.Rule r : c.rules()) {
                boolean admitsOnlyKnownTraffic = r.statement().startsWith("ct state established,related")
                        || r.statement().startsWith("oif \"lo\"") || r.statement().startsWith("iif \"lo\"")
                        || r.statement().endsWith("drop");
                assertThat(admitsOnlyKnownTraffic || r.statement().matches(".*\\bip [sd]addr \\d+\\.\\d+\\.\\d+\\.\\d+.*"))
                        .as(c.name() + ": " + r.statement()).isTrue();
            }
        }
    }

    @Test
    void applyReplacesOnlyEnclavesTableInOneScript() {
        String script = HostRuleset.of(FirewallPlan.localDefaults()).applyScript();
        assertThat(script).startsWith("table inet enclave {}\ndelete table inet enclave\n");
        assertThat(script.lines().filter(l -> l.startsWith("table ") || l.startsWith("delete ")))
                .containsExactly("table inet enclave {}", "delete table inet enclave", "table inet enclave {");
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = HostRulesetTest.class.getClassLoader().getResourceAsStream(name)) {
            assertThat(in).as(name).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
