package dev.enclave.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ConfigLoaderTest {
    private static final String EXPECT = "# expect: ";

    // ---- golden harness: every file in config/bad/ -------------------------------------------

    static Stream<Path> badConfigs() throws IOException {
        try (Stream<Path> files = Files.list(resource("config/bad"))) {
            List<Path> list = files.filter(p -> p.toString().endsWith(".yaml")).sorted().collect(Collectors.toList());
            assertThat(list).as("bad config files").hasSizeGreaterThanOrEqualTo(30);
            return list.stream();
        }
    }

    @ParameterizedTest(name = "{0} is refused with its expected one-line messages")
    @MethodSource("badConfigs")
    void badConfigIsRefusedWithExpectedMessages(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        assertThat(lines.get(0)).as("first line of " + file.getFileName()).startsWith(EXPECT);
        List<String> expected = lines.stream().takeWhile(l -> l.startsWith(EXPECT))
                .map(l -> l.substring(EXPECT.length())).collect(Collectors.toList());

        ConfigException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> catchThrowableOfType(() -> ConfigLoader.load(file), ConfigException.class));

        assertThat(e).as("ConfigException for " + file.getFileName()).isNotNull();
        for (String substring : expected) {
            assertThat(e.problems()).as("problems of " + file.getFileName())
                    .anySatisfy(p -> assertThat(p).contains(substring));
        }
        assertThat(e.problems()).as("every problem names the file and one line").allSatisfy(p -> {
            assertThat(p).doesNotContain("\n");
            assertThat(p).matches(problemLine(file.toString()));
        });
        assertThat(e.getMessage()).isEqualTo(String.join("\n", e.problems()));
    }

    /**
     * {@code <source>:<line> <key.path>: <message>}; YAML syntax errors have no key path
     * ({@code <source>:<line>: not valid YAML ...}), and an alias-count error has no position at all.
     */
    private static Pattern problemLine(String source) {
        String s = Pattern.quote(source);
        return Pattern.compile(s + ":[1-9][0-9]* [a-z_<>]+(\\[[0-9]+\\])?(\\.[a-z_<>]+(\\[[0-9]+\\])?)*: \\S.*"
                + "|" + s + ":[1-9][0-9]*: \\S.*"
                + "|" + s + ": not valid YAML \\(Number of aliases.*");
    }

    @Test
    void problemLinesPointAtTheOffendingLineExactly() {
        assertProblems("unknown_top_key.yaml", ":3 egres: unknown key; did you mean \"egress\"?");
        assertProblems("duplicate_key.yaml", ":5 egress.listen: duplicate key; keep one");
        assertProblems("llm_missing_listen.yaml", ":3 llm[0].listen: missing; this key is required");
        assertProblems("bad_allow_host_port.yaml",
                ":5 egress.allow[0]: \"api.llm.test:0443\": bad port '0443' (expected 1-65535, plain decimal)",
                ":6 egress.allow[1]: \"api.llm.test\" has no port; write host:port, e.g. \"api.llm.test:443\"");
        assertProblems("cidr_host_bits.yaml",
                ":4 egress.clients[0]: \"10.77.1.2/24\" has host bits set; write \"10.77.1.0/24\"",
                ":7 aws.admin_cidrs[0]: \"203.0.113.7/24\" has host bits set; write \"203.0.113.0/24\"");
    }

    private static void assertProblems(String name, String... suffixes) {
        Path file = resource("config/bad/" + name);
        ConfigException e = catchThrowableOfType(() -> ConfigLoader.load(file), ConfigException.class);
        assertThat(e).as(name).isNotNull();
        assertThat(e.problems()).containsExactlyInAnyOrder(
                Stream.of(suffixes).map(s -> file + s).toArray(String[]::new));
    }

    @Test
    void reportsEveryProblemInTheFileTogether() {
        String yaml = "target: moon\negress:\n  listen: nowhere\n  allow: [ \"*.com:443\" ]\naws:\n  region: mars\n";
        ConfigException e = catchThrowableOfType(() -> ConfigLoader.parse(yaml, "enclave.yaml"), ConfigException.class);
        assertThat(e.problems()).hasSize(4).containsExactlyInAnyOrder(
                "enclave.yaml:1 target: \"moon\" is not one of local | lab | aws",
                "enclave.yaml:3 egress.listen: \"nowhere\" has no port; write IP:PORT, e.g. 127.0.0.1:3128 or [::1]:3128",
                "enclave.yaml:4 egress.allow[0]: \"*.com:443\" covers a whole top-level domain; list exact hosts",
                "enclave.yaml:6 aws.region: \"mars\" is not an AWS region name, e.g. us-west-2");
    }

    @Test
    void aliasBombFailsFast() {
        Path file = resource("config/bad/alias_bomb.yaml");
        ConfigException e = assertTimeoutPreemptively(Duration.ofSeconds(2),
                () -> catchThrowableOfType(() -> ConfigLoader.load(file), ConfigException.class));
        assertThat(e.problems()).singleElement().asString().contains("aliases");
    }

    // ---- YAML tags never construct Java objects -----------------------------------------------

    /** Records whether SnakeYAML ever instantiated it. */
    public static final class Canary {
        static volatile boolean created;

        public Canary() {
            created = true;
        }
    }

    @Test
    void globalTagNamingAJavaClassIsRefusedAndNeverInstantiated() {
        Canary.created = false;
        String tag = "!!" + Canary.class.getName();
        for (String yaml : List.of("target: " + tag + " {}\n", "egress:\n  allow: [ " + tag + " [] ]\n",
                tag + " {}\n", "? " + tag + " {}\n: x\n")) {
            ConfigException e = catchThrowableOfType(() -> ConfigLoader.parse(yaml, "t.yaml"), ConfigException.class);
            assertThat(e).as(yaml).isNotNull();
            assertThat(e.problems()).singleElement().asString()
                    .contains("Global tag is not allowed").contains("remove the '!!' tag");
        }
        assertThat(Canary.created).isFalse();
    }

    @Test
    void localTagIsTreatedAsPlainData() throws ConfigException {
        EnclaveConfig c = ConfigLoader.parse("egress:\n  allow: [ !javax.script \"api.llm.test:443\" ]\n", "t.yaml");
        assertThat(c.egress().allow()).containsExactly(HostPattern.parse("api.llm.test:443"));
    }

    @Test
    void gatewaySessionTimeoutsAreReadAndEachDefaultsOnItsOwn() throws ConfigException {
        EnclaveConfig both = ConfigLoader.parse("gateway:\n  session: { idle: 30m, absolute: 12h }\n", "t.yaml");
        assertThat(both.gateway().session()).isEqualTo(new GatewayConfig.Session(Duration.ofMinutes(30), Duration.ofHours(12)));
        EnclaveConfig idleOnly = ConfigLoader.parse("gateway:\n  session: { idle: 1h }\n", "t.yaml");
        assertThat(idleOnly.gateway().session()).isEqualTo(new GatewayConfig.Session(Duration.ofHours(1), Duration.ofHours(24)));
    }

    // ---- good files -------------------------------------------------------------------------

    @Test
    void linuxAccountsThroughPamReplaceTheUsersFile() throws ConfigException {
        EnclaveConfig c = ConfigLoader.parse("gateway:\n  auth: { pam: enclave, pam_group: enclave-users }\n", "t.yaml");
        assertThat(c.gateway().auth()).isEqualTo(new GatewayConfig.Auth(null, "enclave", "enclave-users", false));
        c = ConfigLoader.parse("gateway:\n  auth: { pam: login, pam_allow_root: true }\n", "t.yaml");
        assertThat(c.gateway().auth()).isEqualTo(new GatewayConfig.Auth(null, "login", null, true));
    }

    @Test
    void gatewayTlsFromFilesAndDefaultLimits(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("enclave.yaml");
        Files.writeString(f, "gateway:\n  tls: { mode: files, cert: /etc/enclave/cert.pem, key: /etc/enclave/key.pem }\n");
        GatewayConfig g = ConfigLoader.load(f).gateway();
        assertThat(g.tls()).isEqualTo(new GatewayConfig.Tls("files", List.of(), Path.of("/etc/enclave/cert.pem"),
                Path.of("/etc/enclave/key.pem")));
        assertThat(g.limits()).isEqualTo(GatewayConfig.Limits.DEFAULTS);
    }

    @Test
    void architectureExampleLoadsWithEveryValue() throws ConfigException {
        EnclaveConfig c = ConfigLoader.load(resource("config/good/full.yaml"));

        assertThat(c.target()).isEqualTo(Target.LOCAL);
        GatewayConfig g = c.gateway();
        assertThat(g.listen()).isEqualTo(new InetSocketAddress("0.0.0.0", 8443));
        assertThat(g.redirectHttp()).isEqualTo(new InetSocketAddress("0.0.0.0", 8080));
        assertThat(g.tls()).isEqualTo(new GatewayConfig.Tls("self-signed", List.of("enclave.example.com"), null, null));
        assertThat(g.auth()).isEqualTo(new GatewayConfig.Auth(Path.of("/var/lib/enclave/users"), null, null, false));
        assertThat(g.lockout()).isEqualTo(new GatewayConfig.Lockout(5, Duration.ofMinutes(10), Duration.ofHours(1), true));
        assertThat(g.upstream()).isEqualTo(URI.create("http://10.77.1.2:3000"));
        assertThat(g.session()).isEqualTo(new GatewayConfig.Session(Duration.ofHours(8), Duration.ofHours(24)));
        assertThat(g.limits()).isEqualTo(new GatewayConfig.Limits(16 * 1024, Duration.ofSeconds(45), Duration.ofHours(2)));

        EgressConfig e = c.egress();
        assertThat(e.listen()).isEqualTo(new InetSocketAddress("10.77.1.1", 3128));
        assertThat(e.allow()).containsExactly(new HostPattern("pypi.org", false, 443));
        assertThat(e.mode()).isEqualTo(EgressMode.ENFORCE);
        assertThat(e.limits()).isEqualTo(EgressLimits.DEFAULTS);
        assertThat(e.tlsPorts()).containsExactly(443);

        assertThat(c.llm()).containsExactly(new LlmConfig("openai", new InetSocketAddress("10.77.1.1", 4000),
                URI.create("https://api.openai.com"), "ENCLAVE_LLM_API_KEY", null, List.of(), 5_000_000L));
        assertThat(c.appCommand()).containsExactly("openhands", "serve", "--port", "3000");
        assertThat(c.audit()).isEqualTo(new AuditConfig(Path.of("/var/log/enclave"),
                List.of(new AuditConfig.Alert("webhook", URI.create("https://hooks.example.com/enclave")))));
        assertThat(c.aws()).isEqualTo(new AwsConfig("hardened", "us-west-2", List.of(Cidr.parse("203.0.113.7/32"))));
        assertThat(c.source()).endsWith("full.yaml");
    }

    @Test
    void everyLlmKeyIsRead() throws ConfigException {
        List<LlmConfig> llm = ConfigLoader.load(resource("config/good/llm_everything.yaml")).llm();
        assertThat(llm).hasSize(2);
        LlmConfig openai = llm.get(0);
        assertThat(openai).isEqualTo(new LlmConfig("openai", new InetSocketAddress("10.77.1.1", 4000),
                URI.create("https://API.LLM.test:8443"), null, Path.of("/etc/enclave/llm-key"),
                List.of("/v1/chat/completions", "/v1/models"), 1_000_000L, "X-Relay-Key", "", 60L,
                List.of(Cidr.parse("10.0.0.0/8")), List.of(ResolvePin.parse("api.llm.test:8443=127.0.0.1:9443")),
                Path.of("/etc/enclave/test-ca.pem"), new LlmLimits(200, Duration.ofSeconds(5))));
        assertThat(openai.upstreamPort()).isEqualTo(8443);
        LlmConfig anthropic = llm.get(1);
        assertThat(anthropic.authHeader()).as("null: the preset's header").isNull();
        assertThat(anthropic.authScheme()).as("null: the preset's scheme").isNull();
        assertThat(anthropic.requestsPerMinute()).isZero();
        assertThat(anthropic.tokensPerDay()).isZero();
        assertThat(anthropic.allowCidr()).isEmpty();
        assertThat(anthropic.resolve()).isEmpty();
        assertThat(anthropic.ca()).isNull();
        assertThat(anthropic.upstreamPort()).isEqualTo(443);
    }

    @Test
    void aRelayedUpstreamMayNotAlsoBeOnTheConnectAllowlistOnAnyPortOrByWildcard() {
        assertProblems("llm_upstream_on_egress_allow.yaml",
                ":9 egress.allow[1]: \"*.openai.com:443\" covers api.openai.com, the upstream of llm[0] (line 14), so the"
                        + " agent could reach it around the relay with any key; remove it from egress.allow and let the relay"
                        + " be the only way there",
                ":10 egress.allow[2]: \"api.openai.com:80\" covers api.openai.com, the upstream of llm[0] (line 14), so the"
                        + " agent could reach it around the relay with any key; remove it from egress.allow and let the relay"
                        + " be the only way there");
    }

    @Test
    void twoRelaysOnOneListenAddressNeedDisjointPaths() {
        assertProblems("llm_same_listen_without_paths.yaml",
                ":10 llm[1].listen: listens where llm[0] (line 4) does and one of them has no paths to tell them apart;"
                        + " give each entry its own listen address, or disjoint paths in both");
        assertProblems("llm_same_listen_overlapping_paths.yaml",
                ":9 llm[1].listen: listens where llm[0] (line 4) does and both serve /v1/models/gpt-4o (/v1/models and"
                        + " /v1/models/gpt-4o); give each entry its own listen address, or disjoint paths");
    }

    @Test
    void limitsDefaultWhenNotGiven() throws ConfigException {
        LlmConfig entry = ConfigLoader.parse("llm:\n  - { listen: 10.77.1.1:4000, upstream: \"https://api.openai.com\" }\n",
                "t.yaml").llm().get(0);
        assertThat(entry.limits()).isEqualTo(LlmLimits.DEFAULTS);
    }

    @Test
    void relaysOnDifferentAddressesOrPortsMayServeTheSamePaths() throws ConfigException {
        String yaml = "egress:\n  allow: [ \"api.openai.com.evil.test:443\", \"openai.com:443\" ]\n"
                + "llm:\n"
                + "  - { listen: 10.77.1.1:4000, upstream: \"https://api.openai.com\" }\n"
                + "  - { listen: 10.77.1.1:4001, upstream: \"https://eu.api.openai.com\" }\n"
                + "  - { listen: 10.77.1.2:4000, upstream: \"https://192.0.2.7\" }\n";
        assertThat(ConfigLoader.parse(yaml, "t.yaml").llm()).hasSize(3);
    }

    @Test
    void pathsThatOnlyShareAStringPrefixDoNotOverlap() {
        assertThat(LlmCrossCheck.overlap("/v1/models", "/v1/modelsX")).isFalse();
        assertThat(LlmCrossCheck.overlap("/v1/chat/", "/v1/chat/completions")).isTrue();
        assertThat(LlmCrossCheck.overlap("/", "/v1/messages")).isTrue();
        assertThat(LlmCrossCheck.overlap("/v1/messages", "/v1/messages")).isTrue();
    }

    @Test
    void hostSectionNamesTheGatewaySourceAndTheExtraWaysOut() throws Exception {
        EnclaveConfig c = ConfigLoader.parse("""
                host:
                  gateway_source: 10.0.0.10
                  allow:
                    - { to: 169.254.169.123, port: 123, protocol: udp }
                    - { to: 172.17.0.0/16 }
                """, "t.yaml");
        assertThat(c.host()).isEqualTo(new HostConfig((java.net.Inet4Address) java.net.InetAddress.getByName("10.0.0.10"), List.of(
                new HostConfig.Allow(Cidr.parse("169.254.169.123/32"), "udp", 123),
                new HostConfig.Allow(Cidr.parse("172.17.0.0/16"), "tcp", null))));
        assertThat(ConfigLoader.parse("target: local\n", "t.yaml").host()).as("no host section").isNull();
    }

    @Test
    void everyEgressKeyIsRead() throws ConfigException {
        EnclaveConfig c = ConfigLoader.load(resource("config/good/egress_everything.yaml"));
        EgressConfig e = c.egress();
        assertThat(c.target()).isEqualTo(Target.LAB);
        assertThat(e.listen()).isEqualTo(new InetSocketAddress("::1", 3129));
        assertThat(e.allow()).containsExactly(new HostPattern("api.llm.test", false, 443),
                new HostPattern("models.test", true, 443));
        assertThat(e.allowCidr()).containsExactly(Cidr.parse("10.0.0.0/8"), Cidr.parse("fd00::/8"));
        assertThat(e.resolve()).hasSize(2);
        assertThat(e.resolve().get(0)).isEqualTo(ResolvePin.parse("api.llm.test:443=127.0.0.1:8443"));
        assertThat(e.resolve().get(1).host()).isEqualTo("eu.models.test");
        assertThat(e.resolver()).isEqualTo(new InetSocketAddress("127.0.0.53", 53));
        assertThat(e.clients()).containsExactly(Cidr.parse("10.77.1.0/24"));
        assertThat(e.tlsPorts()).containsExactly(443, 8443);
        assertThat(e.mode()).isEqualTo(EgressMode.REPORT);
        assertThat(e.limits()).isEqualTo(new EgressLimits(64 * 1024, Duration.ofSeconds(5),
                Duration.ofMillis(2500), Duration.ofHours(1), 100));
        assertThat(e.audit()).isEqualTo(Path.of("/var/log/enclave/egress.jsonl"));
    }

    @Test
    void omittedEgressKeysTakeTheirDefaults() throws ConfigException {
        EgressConfig e = ConfigLoader.load(resource("config/good/egress_defaults.yaml")).egress();
        assertThat(e.listen()).isEqualTo(EgressConfig.DEFAULT_LISTEN).isEqualTo(new InetSocketAddress("127.0.0.1", 3128));
        assertThat(e.allow()).containsExactly(new HostPattern("api.llm.test", false, 443));
        assertThat(e.allowCidr()).isEmpty();
        assertThat(e.resolve()).isEmpty();
        assertThat(e.resolver()).isNull();
        assertThat(e.clients()).isEmpty();
        assertThat(e.tlsPorts()).containsExactly(443);
        assertThat(e.mode()).isEqualTo(EgressMode.ENFORCE);
        assertThat(e.limits()).isEqualTo(new EgressLimits(32 * 1024, Duration.ofSeconds(10), Duration.ofSeconds(10),
                Duration.ofMinutes(15), 4096));
        assertThat(e.audit()).isNull();
    }

    @Test
    void emptyFileLoadsAsDefaults(@TempDir Path dir) throws IOException, ConfigException {
        for (String text : List.of("", "# nothing here\n", "---\n")) {
            Path file = Files.writeString(dir.resolve("enclave.yaml"), text);
            EnclaveConfig c = ConfigLoader.load(file);
            assertThat(c).isEqualTo(new EnclaveConfig(file.toString(), Target.LOCAL, null, null, List.of(), List.of(), null, null, null));
        }
    }

    // ---- reading the file -------------------------------------------------------------------

    @Test
    void missingFileIsOneLineMentioningTheFlag(@TempDir Path dir) {
        Path file = dir.resolve("nope.yaml");
        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": no such file; pass an existing enclave.yaml with -c");
    }

    @Test
    void fileLargerThanOneMebibyteIsRefused(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("big.yaml"), "#" + "x".repeat(1024 * 1024) + "\n");
        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": larger than 1 MiB; this is not an enclave.yaml");
    }

    @Test
    void fileThatIsNotUtf8IsRefusedAsSuch(@TempDir Path dir) throws IOException {
        Path file = Files.write(dir.resolve("latin1.yaml"), "target: l\u00e9b\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": not UTF-8 text; save the file as UTF-8");
    }

    @Test
    void directoryIsRefusedWithOneLine(@TempDir Path dir) {
        assertThatThrownBy(() -> ConfigLoader.load(dir))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith(dir + ": cannot read (")
                .hasMessageEndingWith("); check the path and its permissions")
                .hasMessageNotContaining("\n");
    }

    @Test
    void configExceptionNeedsAtLeastOneProblem() {
        assertThatThrownBy(() -> new ConfigException(List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThat(new ConfigException("a: b").problems()).containsExactly("a: b");
    }

    private static Path resource(String name) {
        try {
            return Path.of(ConfigLoaderTest.class.getClassLoader().getResource(name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
