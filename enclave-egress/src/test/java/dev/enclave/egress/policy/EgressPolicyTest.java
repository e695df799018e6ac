package dev.enclave.egress.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.enclave.config.EgressConfig;
import dev.enclave.config.EgressLimits;
import dev.enclave.config.EgressMode;
import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import dev.enclave.config.match.HostPort;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The policy alone, as a specification: each row is a sentence, a verdict and a reason. */
class EgressPolicyTest {
    private static final InetSocketAddress SELF = new InetSocketAddress("10.77.1.1", 3128);

    private static EgressPolicy policy(EgressMode mode) {
        EgressConfig c = new EgressConfig(SELF,
                List.of(HostPattern.parse("api.openai.com:443"), HostPattern.parse("*.models.test:443")),
                List.of(Cidr.parse("10.20.0.0/16")), List.of(), null, List.of(Cidr.parse("10.77.1.2/32")),
                List.of(443), mode, EgressLimits.DEFAULTS, null);
        return new EgressPolicy(c, Set.of(SELF));
    }

    @ParameterizedTest(name = "{0}: {3} ({4})")
    @CsvSource(delimiter = '|', value = {
        "an exact entry matches its host and port       | api.openai.com | 443 | allow | allowed",
        "an exact entry does not match another port     | api.openai.com | 80  | deny  | port_not_allowed",
        "a wildcard matches a subdomain                 | eu.models.test | 443 | allow | allowed",
        "a wildcard matches a deeper subdomain          | a.b.models.test | 443 | allow | allowed",
        "a wildcard does not match its apex             | models.test    | 443 | deny  | host_not_allowed",
        "a wildcard does not match a longer label       | evilmodels.test | 443 | deny | host_not_allowed",
        "an allowed name as a prefix of another is not  | api.openai.com.evil.test | 443 | deny | host_not_allowed",
        "an unlisted name is refused                    | example.com    | 443 | deny  | host_not_allowed"})
    void nameRules(String sentence, String host, int port, String verdict, String reason) {
        Decision d = policy(EgressMode.ENFORCE).checkName(new HostPort(host, port));
        assertThat(d.verdict().code()).isEqualTo(verdict);
        assertThat(d.reason().code()).isEqualTo(reason);
    }

    @ParameterizedTest(name = "{0}: {2} ({3})")
    @CsvSource(delimiter = '|', value = {
        "a public address is allowed                    | 162.159.140.245 | allow | allowed",
        "a private address is refused                   | 10.0.0.5        | deny  | private_address",
        "a private address inside allow_cidr is allowed | 10.20.3.4       | allow | allowed",
        "just outside allow_cidr is refused             | 10.21.0.0       | deny  | private_address",
        "loopback is refused                            | 127.0.0.1       | deny  | loopback_address",
        "the metadata service is refused                | 169.254.169.254 | deny  | metadata_address",
        "other link-local is refused                    | 169.254.1.1     | deny  | link_local_address",
        "the proxy's own address and port is refused    | 10.77.1.1       | deny  | proxy_itself"})
    void addressRules(String sentence, String address, String verdict, String reason) throws Exception {
        int port = address.equals("10.77.1.1") ? 3128 : 443;
        Decision d = policy(EgressMode.ENFORCE).checkAddress(new InetSocketAddress(InetAddress.getByName(address), port));
        assertThat(d.verdict().code()).isEqualTo(verdict);
        assertThat(d.reason().code()).isEqualTo(reason);
    }

    @Test
    void allowCidrIsNamedAsTheRuleThatAdmitted() throws Exception {
        Decision d = policy(EgressMode.ENFORCE).checkAddress(new InetSocketAddress(InetAddress.getByName("10.20.3.4"), 443));
        assertThat(d.rule()).isEqualTo("allow_cidr 10.20.0.0/16");
    }

    @Test
    void reportModeTurnsAllowlistDenialsIntoReports() throws Exception {
        EgressPolicy report = policy(EgressMode.REPORT);
        assertThat(report.checkName(new HostPort("example.com", 443)).verdict()).isEqualTo(Verdict.REPORT_WOULD_DENY);
        assertThat(report.checkAddress(new InetSocketAddress(InetAddress.getByName("10.0.0.5"), 443)).verdict())
                .isEqualTo(Verdict.REPORT_WOULD_DENY);
        assertThat(report.checkSni(new HostPort("api.openai.com", 443), "evil.test").verdict())
                .isEqualTo(Verdict.REPORT_WOULD_DENY);
    }

    @Test
    void reportModeNeverOpensMetadataOrTheProxyItself() throws Exception {
        EgressPolicy report = policy(EgressMode.REPORT);
        assertThat(report.checkAddress(new InetSocketAddress(InetAddress.getByName("169.254.169.254"), 80)).verdict())
                .isEqualTo(Verdict.DENY);
        assertThat(report.checkAddress(SELF).verdict()).isEqualTo(Verdict.DENY);
    }

    @Test
    void sniMustEqualTheConnectHost() {
        EgressPolicy p = policy(EgressMode.ENFORCE);
        HostPort target = new HostPort("api.openai.com", 443);
        assertThat(p.checkSni(target, "api.openai.com").verdict()).isEqualTo(Verdict.ALLOW);
        assertThat(p.checkSni(target, "evil.test").reason()).isEqualTo(Reason.SNI_MISMATCH);
        assertThat(p.checkSni(target, null).reason()).isEqualTo(Reason.SNI_MISSING);
        assertThat(p.requiresTls(443)).isTrue();
        assertThat(p.requiresTls(80)).isFalse();
    }

    @Test
    void onlyListedClientsMayUseTheProxy() throws Exception {
        EgressPolicy p = policy(EgressMode.ENFORCE);
        assertThat(p.checkClient(InetAddress.getByName("10.77.1.2")).verdict()).isEqualTo(Verdict.ALLOW);
        Decision stranger = p.checkClient(InetAddress.getByName("10.77.1.3"));
        assertThat(stranger.verdict()).isEqualTo(Verdict.DENY);
        assertThat(stranger.reason()).isEqualTo(Reason.CLIENT_NOT_ALLOWED);
    }

    @Test
    void everyReasonHasAStableSnakeCaseCodeAndOneLineText() {
        for (Reason r : Reason.values()) {
            assertThat(r.code()).matches("[a-z][a-z0-9_]*");
            assertThat(r.text()).doesNotContain("\n").isNotBlank();
        }
    }
}
