package dev.enclave.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** nft's failures, turned into one line that names the fix. */
class NftTest {

    @Test
    void aMissingNftNamesThePackage() {
        assertThatThrownBy(() -> Nft.exec(List.of("/nonexistent/sbin/nft", "-f", "-"), "", null))
                .isInstanceOf(HostFirewallException.class)
                .hasMessageStartingWith("nft not found (")
                .hasMessageEndingWith("); install it: apt install nftables");
    }

    @Test
    void aRefusalQuotesNftsFirstErrorWithoutItsFileLocation() {
        String out = """
                /dev/stdin:31:12-28: Error: Could not resolve hostname: Name or service not known
                		ip daddr 10.77.91.300 accept comment "x"
                		         ^^^^^^^^^^^^
                """;
        assertThat(Nft.failure(out, "the ruleset").getMessage()).isEqualTo(
                "nft refused the ruleset: Could not resolve hostname: Name or service not known "
                        + "(at: ip daddr 10.77.91.300 accept comment \"x\"); nothing was changed");
    }
}
