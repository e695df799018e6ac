package dev.enclave.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.enclave.gateway.testing.HostCommand;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class NftablesBansTest {
    private static final int GATEWAY_PORT = 8443;
    /** A table that is not the gateway's: it must come out of every test exactly as it went in. */
    private static final String OTHER_TABLE = """
            table inet operator_firewall {
              set blocked { type ipv4_addr; elements = { 192.0.2.1 } }
              chain input {
                type filter hook input priority filter; policy accept;
                tcp dport 22 ip saddr @blocked drop
              }
            }
            """;

    @TempDir
    Path state;
    private NetNamespace ns;
    private NftablesBans kernel;
    private final List<String> notices = new CopyOnWriteArrayList<>();

    private final List<LockoutTracker> trackers = new CopyOnWriteArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        trackers.forEach(LockoutTracker::close); // bans are written on their own thread: done before the directory goes
        try {
            if (kernel != null) {
                kernel.close();
            }
        } finally {
            if (ns != null) {
                ns.close();
            }
        }
    }

    // ---- what goes into a script (no root needed) ----------------------------------------------

    @ParameterizedTest(name = "tracker key {0} goes to set {1} as {2}")
    @CsvSource({
            "203.0.113.7,              bans4, 203.0.113.7",
            "2001:db8:1:2:0:0:0:0/64,  bans6, 2001:db8:1:2:0:0:0:0/64",
            "2001:db8:1:2::/64,        bans6, 2001:db8:1:2:0:0:0:0/64",
            "2001:db8:1:2:ab::99/64,   bans6, 2001:db8:1:2:0:0:0:0/64",
    })
    void aTrackerKeyBecomesAnElementPrintedFromItsParsedBytes(String source, String set, String text) {
        assertThat(NftablesBans.parse(source)).isEqualTo(new NftablesBans.Element(set, text));
    }

    @ParameterizedTest(name = "\"{0}\" is no element")
    @ValueSource(strings = {"203.0.113.7/64", "2001:db8::1", "203.0.113.07", "1.2.3", "example.com",
            "1.2.3.4 } ; flush ruleset", "1.2.3.4\nflush ruleset", "::ffff:1.2.3.4/64", "", "/64"})
    void anythingButAnIpv4AddressOrAnIpv6Slash64IsRefused(String source) {
        assertThat(NftablesBans.parse(source)).isNull();
    }

    @ParameterizedTest(name = "{0} is written {1}")
    @CsvSource({"PT59M59.12S, 59m59s120ms", "P1DT2H3M4.005S, 1d2h3m4s5ms", "P365D, 365d", "PT0S, 1ms", "PT1H, 1h"})
    void timeoutsAreWrittenInNftsUnitsEachWithinItsBound(Duration d, String text) {
        assertThat(NftablesBans.timeout(d)).isEqualTo(text);
    }

    @Test
    void eachListenerGetsARulePerFamilyAndOneOnASingleAddressMatchesThatAddressToo() throws Exception {
        NftablesBans k = new NftablesBans(List.of("nft"), List.of(new InetSocketAddress("0.0.0.0", 8443),
                new InetSocketAddress("127.0.0.1", 8080), new InetSocketAddress(InetAddress.getByName("::1"), 9443)),
                null, Clock.systemUTC(), null, notices::add);
        assertThat(k.tableScript(List.of())).isEqualTo("""
                table inet enclave_gateway
                delete table inet enclave_gateway
                table inet enclave_gateway {
                  set bans4 { type ipv4_addr; flags timeout; }
                  set bans6 { type ipv6_addr; flags interval, timeout; }
                  chain input {
                    type filter hook input priority filter - 5; policy accept;
                    tcp dport 8443 ip saddr @bans4 counter drop
                    tcp dport 8443 ip6 saddr @bans6 counter drop
                    ip daddr 127.0.0.1 tcp dport 8080 ip saddr @bans4 counter drop
                    ip6 daddr 0:0:0:0:0:0:0:1 tcp dport 9443 ip6 saddr @bans6 counter drop
                  }
                }
                """);
    }

    @Test
    void aMissingNftStopsTheStartWithOneLineNamingTheFix() throws Exception {
        LockoutTracker lockout = tracker(Duration.ofHours(1));
        assertThatThrownBy(() -> NftablesBans.start(List.of("/nonexistent/sbin/nft"), listeners(), lockout,
                Clock.systemUTC(), null, notices::add))
                .isInstanceOf(IOException.class)
                .hasMessage("nft not found: apt install nftables, or drop --ban-nftables");
    }

    // ---- in a network namespace (root) --------------------------------------------------------

    @Test
    void startCreatesItsTableWithBothSetsAndADropRulePerFamilyForTheGatewayPort() throws Exception {
        ns = NetNamespace.create();
        ns.nft(OTHER_TABLE);
        String other = ns.exec("nft", "list", "table", "inet", "operator_firewall");
        kernel = start(tracker(Duration.ofHours(1)));

        JsonNode table = ns.table("enclave_gateway");
        assertThat(table).isNotNull();
        JsonNode bans4 = find(table, "set", "bans4");
        assertThat(bans4.path("type").asText()).isEqualTo("ipv4_addr");
        assertThat(texts(bans4.path("flags"))).containsExactly("timeout");
        JsonNode bans6 = find(table, "set", "bans6");
        assertThat(bans6.path("type").asText()).isEqualTo("ipv6_addr");
        assertThat(texts(bans6.path("flags"))).containsExactlyInAnyOrder("interval", "timeout");
        JsonNode chain = find(table, "chain", "input");
        assertThat(chain.path("hook").asText()).isEqualTo("input");
        assertThat(chain.path("prio").asInt()).isEqualTo(-5);
        assertThat(chain.path("policy").asText()).isEqualTo("accept");
        List<String> rules = new ArrayList<>();
        for (JsonNode n : table.path("nftables")) {
            if (n.has("rule")) {
                rules.add(n.get("rule").path("expr").toString());
            }
        }
        assertThat(rules).hasSize(2);
        assertThat(rules).allSatisfy(r -> assertThat(r).contains("\"dport\"").contains("\"right\":" + GATEWAY_PORT)
                .contains("{\"drop\":null}"));
        assertThat(rules.get(0)).contains("\"protocol\":\"ip\",\"field\":\"saddr\"").contains("\"right\":\"@bans4\"");
        assertThat(rules.get(1)).contains("\"protocol\":\"ip6\",\"field\":\"saddr\"").contains("\"right\":\"@bans6\"");
        assertThat(ns.exec("nft", "list", "table", "inet", "operator_firewall")).isEqualTo(other);
    }

    @Test
    void bansInForceAtStartAreLoadedWithTheirRemainingTimeNotTheBanLength() throws Exception {
        ns = NetNamespace.create();
        Instant now = Instant.now();
        Files.writeString(state.resolve("bans"), "203.0.113.7 " + now.plus(Duration.ofMinutes(30)) + "\n"
                + "2001:db8:1:2:0:0:0:0/64 " + now.plus(Duration.ofMinutes(20)) + "\n"
                + "198.51.100.1 " + now.minus(Duration.ofMinutes(1)) + "\n");
        kernel = start(tracker(Duration.ofHours(1)));

        Map<String, Long> v4 = elements(ns.table("enclave_gateway"), "bans4");
        assertThat(v4).containsOnlyKeys("203.0.113.7");
        assertThat(v4.get("203.0.113.7")).isBetween(30 * 60L - 10, 30 * 60L);
        Map<String, Long> v6 = elements(ns.table("enclave_gateway"), "bans6");
        assertThat(v6).containsOnlyKeys("2001:db8:1:2::/64");
        assertThat(v6.get("2001:db8:1:2::/64")).isBetween(20 * 60L - 10, 20 * 60L);
    }

    @Test
    void aNewBanAddsItsElementWithATimeoutCloseToTheBanLength() throws Exception {
        ns = NetNamespace.create();
        LockoutTracker lockout = tracker(Duration.ofHours(1));
        kernel = start(lockout);
        for (int i = 0; i < 5; i++) {
            lockout.recordFailure(InetAddress.getByName("203.0.113.7"), "alice");
            lockout.recordFailure(InetAddress.getByName("2001:db8:1:2::" + (i + 1)), "bob");
        }
        eventually(() -> elements(ns.table("enclave_gateway"), "bans4").containsKey("203.0.113.7")
                && elements(ns.table("enclave_gateway"), "bans6").containsKey("2001:db8:1:2::/64"));
        assertThat(elements(ns.table("enclave_gateway"), "bans4").get("203.0.113.7")).isBetween(3600L - 10, 3600L);
        assertThat(elements(ns.table("enclave_gateway"), "bans6").get("2001:db8:1:2::/64")).isBetween(3600L - 10, 3600L);
        assertThat(notices).isEmpty();
    }

    @Test
    void anUnbanThroughTheBansFileRemovesTheElementWhileNoClientComes() throws Exception {
        ns = NetNamespace.create();
        LockoutTracker running = tracker(Duration.ofHours(1));
        for (int i = 0; i < 5; i++) {
            running.recordFailure(InetAddress.getByName("203.0.113.7"), "alice");
            running.recordFailure(InetAddress.getByName("198.51.100.9"), "alice");
        }
        running.flush();
        kernel = start(running);
        assertThat(elements(ns.table("enclave_gateway"), "bans4")).containsOnlyKeys("203.0.113.7", "198.51.100.9");

        assertThat(tracker(Duration.ofHours(1)).unban("203.0.113.7")).isTrue(); // as 'enclave bans unban' does
        eventually(() -> !elements(ns.table("enclave_gateway"), "bans4").containsKey("203.0.113.7"));
        assertThat(elements(ns.table("enclave_gateway"), "bans4")).containsOnlyKeys("198.51.100.9");
    }

    @Test
    void closeDeletesTheTableLeavingTheRestOfTheRulesetAsItWasAndTheBansOnDisk() throws Exception {
        ns = NetNamespace.create();
        ns.nft(OTHER_TABLE);
        String before = ns.ruleset();
        LockoutTracker lockout = tracker(Duration.ofHours(1));
        kernel = start(lockout);
        for (int i = 0; i < 5; i++) {
            lockout.recordFailure(InetAddress.getByName("203.0.113.7"), "alice");
        }
        eventually(() -> elements(ns.table("enclave_gateway"), "bans4").containsKey("203.0.113.7"));
        kernel.close();
        kernel = null;
        assertThat(ns.table("enclave_gateway")).isNull();
        lockout.flush();
        assertThat(ns.ruleset()).isEqualTo(before);
        assertThat(tracker(Duration.ofHours(1)).bans()).extracting(LockoutTracker.Ban::source).containsExactly("203.0.113.7");
    }

    @Test
    void aTableLeftByACrashedRunIsReplacedWhole() throws Exception {
        ns = NetNamespace.create();
        ns.nft("""
                table inet enclave_gateway {
                  set bans4 { type ipv4_addr; elements = { 192.0.2.99 }; }
                  set leftover { type ipv4_addr; }
                }
                """);
        kernel = start(tracker(Duration.ofHours(1)));
        JsonNode table = ns.table("enclave_gateway");
        assertThat(elements(table, "bans4")).isEmpty();
        assertThat(find(table, "set", "leftover")).isNull();
    }

    @Test
    void aLaterNftFailureIsPrintedOnceAndTheTableIsRewrittenWhenNftWorksAgain() throws Exception {
        ns = NetNamespace.create();
        LockoutTracker lockout = tracker(Duration.ofHours(1));
        kernel = start(lockout);
        ns.nft("delete table inet enclave_gateway\n"); // as 'nft flush ruleset' by a firewall reload would
        for (int i = 0; i < 5; i++) {
            lockout.recordFailure(InetAddress.getByName("203.0.113.7"), "alice");
            lockout.recordFailure(InetAddress.getByName("203.0.113.8"), "alice");
        }
        assertThat(lockout.bannedUntil(InetAddress.getByName("203.0.113.7"))).as("the gateway still refuses").isPresent();
        eventually(() -> ns.table("enclave_gateway") != null
                && elements(ns.table("enclave_gateway"), "bans4").keySet().containsAll(List.of("203.0.113.7", "203.0.113.8")));
        assertThat(notices).hasSize(2);
        assertThat(notices.get(0)).startsWith("enclave gateway: nft failed: ")
                .endsWith("; the gateway itself still refuses banned sources");
        assertThat(notices.get(1)).isEqualTo("enclave gateway: nftables bans work again (table inet enclave_gateway rewritten)");
    }

    @Test
    void nftWithoutCapNetAdminStopsTheStartWithOneLineNamingTheFix() throws Exception {
        ns = NetNamespace.create();
        assertThat(HostCommand.tool("setpriv")).as("setpriv (util-linux)").isNotNull();
        List<String> asNobody = List.of(HostCommand.tool("ip"), "netns", "exec", ns.name, HostCommand.tool("setpriv"),
                "--reuid=65534", "--regid=65534", "--clear-groups", HostCommand.tool("nft"));
        LockoutTracker lockout = tracker(Duration.ofHours(1));
        assertThatThrownBy(() -> NftablesBans.start(asNobody, listeners(), lockout, Clock.systemUTC(), null, notices::add))
                .isInstanceOf(IOException.class)
                .hasMessage("nft not permitted (Operation not permitted): run the gateway as root or with CAP_NET_ADMIN, "
                        + "or drop --ban-nftables");
        assertThat(ns.table("enclave_gateway")).isNull();
    }

    // ---- helpers --------------------------------------------------------------------------------

    private LockoutTracker tracker(Duration ban) throws Exception {
        LockoutTracker t = LockoutTracker.open(state, 5, Duration.ofMinutes(10), ban, Clock.systemUTC());
        trackers.add(t);
        return t;
    }

    private static List<InetSocketAddress> listeners() {
        return List.of(new InetSocketAddress("0.0.0.0", GATEWAY_PORT));
    }

    private NftablesBans start(LockoutTracker lockout) throws IOException {
        return NftablesBans.start(ns.nftCommand(), listeners(), lockout, Clock.systemUTC(), null, notices::add);
    }

    /** The {@code kind} object named {@code name} in an {@code nft -j} listing, or null. */
    private static JsonNode find(JsonNode listing, String kind, String name) {
        for (JsonNode n : listing.path("nftables")) {
            if (n.has(kind) && n.get(kind).path("name").asText().equals(name)) {
                return n.get(kind);
            }
        }
        return null;
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    /** A set's elements ("203.0.113.7", "2001:db8:1:2::/64") and the seconds until the kernel forgets each. */
    private static Map<String, Long> elements(JsonNode listing, String set) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (JsonNode e : find(listing, "set", set).path("elem")) {
            JsonNode elem = e.path("elem");
            JsonNode val = elem.path("val");
            String key = val.has("prefix") ? val.get("prefix").path("addr").asText() + "/" + val.get("prefix").path("len").asInt()
                    : val.asText();
            out.put(key, elem.path("expires").asLong(-1));
        }
        return out;
    }

    interface Check {
        boolean holds() throws Exception;
    }

    /** Polls {@code check} (nft runs on its own thread) for up to 10 s. */
    private static void eventually(Check check) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!check.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s");
            }
            Thread.sleep(50);
        }
    }
}
