package dev.enclave.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The matrix as a specification: what each design must make of each check, and why. */
class LabChecksTest {
    private final List<LabCheck> checks = LabChecks.all();

    private LabCheck check(String id) {
        return checks.stream().filter(c -> c.id().equals(id)).findFirst().orElseThrow(() -> new AssertionError("no check " + id));
    }

    @Test
    void idsAreUniqueAndEveryCheckSaysWhatEnclaveMustDoAndWhy() {
        Set<String> ids = new HashSet<>();
        for (LabCheck c : checks) {
            assertThat(ids.add(c.id())).as("duplicate id " + c.id()).isTrue();
            Expectation e = c.expectation(LabDesign.ENCLAVE);
            assertThat(e).as(c.id()).isNotNull();
            assertThat(e.reason()).as(c.id()).isNotBlank();
            assertThat(c.description()).as(c.id()).isNotBlank();
        }
    }

    @Test
    void theSeedGuidesOwnListKeepsItsExpectedResultsForTheSeedDesign() {
        Map<String, Expect> seedList = Map.of(
                "seed.curl-google", Expect.FAIL, "seed.curl-github", Expect.FAIL, "seed.curl-llm", Expect.WORKS,
                "seed.dig", Expect.WORKS, "seed.ntp", Expect.WORKS, "seed.ping", Expect.FAIL, "seed.wget-example", Expect.FAIL);
        seedList.forEach((id, result) -> assertThat(check(id).expected().get("seed").result()).as(id).isEqualTo(result));
    }

    @Test
    void enclaveDepartsFromTheSeedListOnlyForDnsAndNtpAndSaysWhy() {
        List<String> deviations = checks.stream().filter(c -> c.id().startsWith("seed."))
                .filter(c -> c.expectation(LabDesign.ENCLAVE).result() != c.expected().get("seed").result())
                .map(LabCheck::id).sorted().collect(Collectors.toList());
        assertThat(deviations).containsExactly("seed.dig", "seed.ntp");
        assertThat(check("seed.dig").expectation(LabDesign.ENCLAVE).reason())
                .contains("deliberate deviation").contains("the proxy resolves names; DNS is an exfiltration channel");
        assertThat(check("seed.ntp").expectation(LabDesign.ENCLAVE).reason()).contains("deliberate deviation");
        assertThat(check("seed.curl-llm").expectation(LabDesign.ENCLAVE).reason()).contains("relay");
    }

    @Test
    void everyHoleOfTheSeedDesignIsOpenThereAndClosedInEnclaves() {
        assertThat(check("llm.address-change").expected().get("seed").result()).isEqualTo(Expect.FAIL);
        assertThat(check("llm.address-change").expectation(LabDesign.ENCLAVE).result()).isEqualTo(Expect.WORKS);
        assertThat(check("llm.address-change").alone()).as("it moves the API under the other checks' feet").isTrue();
        for (String id : List.of("llm.direct", "llm.own-key", "llm.read-key", "llm.neighbour", "dns.exfiltration", "container.google", "container.metadata", "firewall.flush")) {
            assertThat(check(id).expected().get("seed").result()).as(id + " in the seed design").isEqualTo(Expect.WORKS);
            assertThat(check(id).expectation(LabDesign.ENCLAVE).result()).as(id + " in Enclave's").isEqualTo(Expect.FAIL);
        }
        // The seed's OUTPUT chain does stop the host itself; only its containers reach the metadata service.
        assertThat(check("metadata").expectation(LabDesign.SEED).result()).isEqualTo(Expect.FAIL);
        assertThat(check("firewall.flush").alone()).as("it takes the seed's rules away while it runs").isTrue();
    }

    @Test
    void ingressIsCheckedFromTheInternetAndOnlyTheRightCredentialsGetIn() {
        List<LabCheck> ingress = checks.stream().filter(c -> c.id().startsWith("ingress.")).toList();
        assertThat(ingress).extracting(LabCheck::id).containsExactly("ingress.app-direct", "ingress.plain-http",
                "ingress.no-credentials", "ingress.right-credentials", "ingress.brute-force");
        for (LabCheck c : ingress) {
            assertThat(c.from()).isEqualTo(LabCheck.From.INTERNET);
            assertThat(c.expectation(LabDesign.ENCLAVE).result()).as(c.id())
                    .isEqualTo(c.id().equals("ingress.right-credentials") ? Expect.WORKS : Expect.FAIL);
        }
        assertThat(checks.stream().filter(c -> !c.id().startsWith("ingress.")).map(LabCheck::from)).containsOnly(LabCheck.From.APP);
    }
}
