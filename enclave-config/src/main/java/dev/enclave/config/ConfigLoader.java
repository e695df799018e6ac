package dev.enclave.config;

import dev.enclave.config.match.Cidr;
import dev.enclave.config.match.HostPattern;
import dev.enclave.config.match.HostPort;
import dev.enclave.config.match.HostSyntaxException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Reads {@code enclave.yaml} strictly: unknown keys, duplicate keys, wrong types and bad values
 * are all errors naming file, line and key; nothing is guessed. All problems in a file are
 * reported together. The file's YAML is composed to nodes (never to arbitrary objects), so tags
 * cannot instantiate classes, and aliases are capped against expansion bombs.
 */
public final class ConfigLoader {
    private static final Set<String> TOP = keys("target", "gateway", "egress", "llm", "app", "audit", "aws", "host");
    private static final Set<String> EGRESS = keys("listen", "allow", "allow_cidr", "resolve", "resolver",
            "clients", "tls_ports", "mode", "limits", "audit");
    private static final Set<String> LIMITS = keys("max_head", "head_timeout", "connect_timeout", "idle_timeout",
            "max_connections");
    private static final Set<String> GATEWAY = keys("listen", "redirect_http", "tls", "auth", "lockout", "upstream",
            "session", "limits");
    private static final Set<String> GATEWAY_LIMITS = keys("max_head", "client_idle", "websocket_idle");
    private static final Set<String> TLS = keys("mode", "names", "cert", "key");
    private static final Set<String> AUTH = keys("users", "pam", "pam_group", "pam_allow_root");
    private static final Set<String> LOCKOUT = keys("max_failures", "window", "ban", "nftables");
    private static final Set<String> SESSION = keys("idle", "absolute");
    private static final Set<String> LLM = keys("preset", "listen", "upstream", "key", "paths", "budget",
            "auth_header", "auth_scheme", "allow_cidr", "resolve", "ca", "limits");
    private static final Set<String> LLM_LIMITS = keys("max_connections", "head_timeout");
    private static final Set<String> KEY = keys("env", "file");
    private static final Set<String> BUDGET = keys("tokens_per_day", "requests_per_minute");
    private static final Set<String> APP = keys("command");
    private static final Set<String> AUDIT = keys("dir", "alerts");
    private static final Set<String> ALERT = keys("kind", "url");
    private static final Set<String> AWS = keys("mode", "region", "admin_cidrs");
    private static final int MAX_FILE_BYTES = 1024 * 1024;

    private ConfigLoader() {
    }

    public static EnclaveConfig load(Path file) throws ConfigException {
        String text;
        try {
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new ConfigException(file + ": larger than 1 MiB; this is not an enclave.yaml");
            }
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": no such file; pass an existing enclave.yaml with -c");
        } catch (CharacterCodingException e) {
            throw new ConfigException(file + ": not UTF-8 text; save the file as UTF-8");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read (" + e.getMessage() + "); check the path and its permissions");
        }
        return parse(text, file.toString());
    }

    public static EnclaveConfig parse(String text, String source) throws ConfigException {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        options.setMaxAliasesForCollections(20);
        options.setAllowRecursiveKeys(false);
        options.setCodePointLimit(MAX_FILE_BYTES);
        Node root;
        try {
            root = new Yaml(new SafeConstructor(options)).compose(new java.io.StringReader(text));
        } catch (MarkedYAMLException e) {
            int line = e.getProblemMark() == null ? 0 : e.getProblemMark().getLine() + 1;
            String problem = String.valueOf(e.getProblem());
            String fix = problem.startsWith("Global tag is not allowed")
                    ? "remove the '!!' tag; enclave.yaml holds plain values only"
                    : "check indentation and quoting on that line";
            throw new ConfigException(source + ":" + line + ": not valid YAML (" + problem + "); " + fix);
        } catch (YAMLException e) {
            String fix = String.valueOf(e.getMessage()).contains("aliases")
                    ? "write the values out instead of using anchors and aliases (&name, *name)"
                    : "check the file is a plain YAML mapping";
            throw new ConfigException(source + ": not valid YAML (" + e.getMessage() + "); " + fix);
        }
        List<String> problems = new ArrayList<>();
        if (root == null || (root instanceof ScalarNode scalar && Tag.NULL.equals(scalar.getTag()))) {
            // An empty file, or one holding only comments or a bare "---", means all defaults.
            return new EnclaveConfig(source, Target.LOCAL, null, null, List.of(), List.of(), null, null, null);
        }
        YamlSection top = YamlSection.of(root, source, "", problems, TOP);
        if (top == null) {
            throw new ConfigException(problems);
        }
        Target target = top.value("target", enumOf(Target.class), Target.LOCAL);
        YamlSection egressSection = top.section("egress", EGRESS);
        EgressConfig egress = egress(egressSection);
        GatewayConfig gateway = gateway(top.section("gateway", GATEWAY));
        List<LlmConfig> llm = new ArrayList<>();
        List<YamlSection> llmSections = top.sections("llm", LLM);
        for (YamlSection s : llmSections) {
            llm.add(llm(s));
        }
        if (problems.isEmpty()) {
            // Across sections, on values already known to be valid, so list indices match the file.
            LlmCrossCheck.check(egressSection, egress, llmSections, llm);
        }
        YamlSection app = top.section("app", APP);
        List<String> command = app == null ? List.of() : app.list("command", Function.identity());
        AuditConfig audit = audit(top.section("audit", AUDIT));
        AwsConfig aws = aws(top.section("aws", AWS));
        HostConfig host = HostSectionReader.host(top.section("host", HostSectionReader.KEYS));
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new EnclaveConfig(source, target, gateway, egress, llm, command, audit, aws, host);
    }

    private static EgressConfig egress(YamlSection s) {
        if (s == null) {
            return null;
        }
        EgressConfig d = EgressConfig.defaults();
        InetSocketAddress listen = s.value("listen", ConfigValues::socketAddress, d.listen());
        List<HostPattern> allow = s.list("allow", HostPattern::parse);
        List<Cidr> allowCidr = s.list("allow_cidr", Cidr::parse);
        List<ResolvePin> resolve = s.list("resolve", ResolvePin::parse);
        InetSocketAddress resolver = s.value("resolver", ConfigValues::socketAddress, null);
        List<Cidr> clients = s.list("clients", Cidr::parse);
        List<Integer> tlsPorts = s.has("tls_ports") ? s.list("tls_ports", ConfigLoader::port) : d.tlsPorts();
        EgressMode mode = s.value("mode", enumOf(EgressMode.class), EgressMode.ENFORCE);
        EgressLimits limits = limits(s.section("limits", LIMITS));
        java.nio.file.Path audit = s.value("audit", Path::of, null);
        return new EgressConfig(listen, allow, allowCidr, resolve, resolver, clients, tlsPorts, mode, limits, audit);
    }

    private static EgressLimits limits(YamlSection s) {
        EgressLimits d = EgressLimits.DEFAULTS;
        if (s == null) {
            return d;
        }
        long maxHead = s.value("max_head", bounded(ConfigValues::size, 1024, 1024 * 1024, "1KiB", "1MiB"), (long) d.maxHeadBytes());
        return new EgressLimits((int) maxHead,
                s.value("head_timeout", positive(), d.headTimeout()),
                s.value("connect_timeout", positive(), d.connectTimeout()),
                s.value("idle_timeout", positive(), d.idleTimeout()),
                s.value("max_connections", bounded(Long::parseLong, 1, 1_000_000, "1", "1000000"), (long) d.maxConnections()).intValue());
    }

    private static GatewayConfig gateway(YamlSection s) {
        if (s == null) {
            return null;
        }
        YamlSection tls = s.section("tls", TLS);
        YamlSection auth = s.section("auth", AUTH);
        YamlSection lockout = s.section("lockout", LOCKOUT);
        if (tls != null) {
            tlsFiles(tls);
        }
        return new GatewayConfig(
                s.value("listen", ConfigValues::socketAddress, new InetSocketAddress("0.0.0.0", 8443)),
                s.value("redirect_http", ConfigValues::socketAddress, null),
                tls == null ? null : new GatewayConfig.Tls(
                        tls.value("mode", oneOf("self-signed", "files", "acme"), "self-signed"),
                        tls.list("names", ConfigLoader::hostName),
                        tls.value("cert", Path::of, null),
                        tls.value("key", Path::of, null)),
                auth == null ? null : auth(auth),
                lockout == null ? null : new GatewayConfig.Lockout(
                        lockout.value("max_failures", bounded(Long::parseLong, 1, 1000, "1", "1000"), 5L).intValue(),
                        lockout.value("window", positive(), Duration.ofMinutes(10)),
                        lockout.value("ban", positive(), Duration.ofHours(1)),
                        lockout.value("nftables", oneOf("true", "false"), "false").equals("true")),
                s.value("upstream", url("http"), null),
                session(s.section("session", SESSION)),
                gatewayLimits(s.section("limits", GATEWAY_LIMITS)));
    }

    /** {@code mode: files} needs both files; the files mean nothing in the other modes. */
    private static void tlsFiles(YamlSection tls) {
        String mode = tls.value("mode", oneOf("self-signed", "files", "acme"), "self-signed");
        if (mode.equals("acme")) {
            tls.problemAt("mode", "acme is not available yet; use self-signed, or files with cert and key from your CA");
        } else if (mode.equals("files")) {
            for (String needed : List.of("cert", "key")) {
                if (!tls.has(needed)) {
                    tls.problemAt("mode", "mode files needs both cert and key (PEM files); add " + needed + ": /path/to/" + needed + ".pem");
                }
            }
        } else {
            for (String file : List.of("cert", "key")) {
                if (tls.has(file)) {
                    tls.problemAt(file, "is used only with mode: files; add mode: files, or remove " + file + " for a self-signed certificate");
                }
            }
        }
    }

    private static GatewayConfig.Limits gatewayLimits(YamlSection s) {
        GatewayConfig.Limits d = GatewayConfig.Limits.DEFAULTS;
        if (s == null) {
            return d;
        }
        return new GatewayConfig.Limits(
                s.value("max_head", bounded(ConfigValues::size, 1024, 1024 * 1024, "1KiB", "1MiB"), (long) d.maxHeadBytes()).intValue(),
                s.value("client_idle", positive(), d.clientIdle()),
                s.value("websocket_idle", positive(), d.websocketIdle()));
    }

    private static GatewayConfig.Session session(YamlSection s) {
        if (s == null) {
            return GatewayConfig.Session.DEFAULTS;
        }
        Duration idle = s.value("idle", positive(), GatewayConfig.Session.DEFAULTS.idle());
        Duration absolute = s.value("absolute", positive(), GatewayConfig.Session.DEFAULTS.absolute());
        if (idle.compareTo(absolute) > 0) {
            s.problemAt(s.has("idle") ? "idle" : "absolute", "idle (" + spelled(idle) + ") is longer than absolute ("
                    + spelled(absolute) + "), so it would never apply; make idle at most absolute");
        }
        return new GatewayConfig.Session(idle, absolute);
    }

    private static GatewayConfig.Auth auth(YamlSection s) {
        if (s.has("users") && s.has("pam")) {
            s.problemAt("pam", "give either users (a users file) or pam (Linux accounts), not both");
        }
        for (String pamOnly : List.of("pam_group", "pam_allow_root")) {
            if (s.has(pamOnly) && !s.has("pam")) {
                s.problemAt(pamOnly, "applies to Linux accounts only; add pam: SERVICE or remove it");
            }
        }
        return new GatewayConfig.Auth(
                s.value("users", Path::of, null),
                s.value("pam", ConfigLoader::pamService, null),
                s.value("pam_group", ConfigLoader::groupName, null),
                s.value("pam_allow_root", oneOf("true", "false"), "false").equals("true"));
    }

    /** A file name in /etc/pam.d, nothing that could reach outside it. */
    private static String pamService(String text) {
        if (!text.matches("[A-Za-z0-9][A-Za-z0-9._+-]*")) {
            throw new IllegalArgumentException("\"" + text + "\" is not a PAM service name; give a file name in /etc/pam.d, e.g. enclave");
        }
        return text;
    }

    private static String groupName(String text) {
        if (text.isBlank() || text.chars().anyMatch(c -> c < 0x20 || c == ':' || c == '/')) {
            throw new IllegalArgumentException("\"" + text + "\" is not a group name");
        }
        return text;
    }

    private static LlmConfig llm(YamlSection s) {
        YamlSection key = s.section("key", KEY);
        YamlSection budget = s.section("budget", BUDGET);
        if (key != null && key.has("env") && key.has("file")) {
            s.problemAt("key", "give either env or file, not both");
        }
        URI upstream = s.required("upstream", url("https"));
        List<ResolvePin> resolve = s.list("resolve", ResolvePin::parse);
        for (int i = 0; i < resolve.size(); i++) {
            String pinned = resolve.get(i).host();
            if (upstream != null && !pinned.equals(LlmCrossCheck.upstreamHost(upstream))) {
                s.problemAt("resolve", i, "pins " + pinned + " but the upstream is " + upstream.getHost()
                        + "; pin the upstream's name, e.g. \"" + upstream.getHost() + "=192.0.2.10\"");
            }
        }
        return new LlmConfig(
                s.value("preset", oneOf("openai", "anthropic", "azure"), "openai"),
                s.required("listen", ConfigValues::socketAddress),
                upstream,
                key == null ? null : key.value("env", ConfigLoader::envName, null),
                key == null ? null : key.value("file", Path::of, null),
                s.list("paths", ConfigLoader::pathPrefix),
                budget == null ? 0 : budget.value("tokens_per_day", bounded(Long::parseLong, 1, Long.MAX_VALUE, "1", "any"), 0L),
                s.value("auth_header", ConfigLoader::authHeader, null),
                s.value("auth_scheme", ConfigLoader::authScheme, null),
                budget == null ? 0 : budget.value("requests_per_minute", bounded(Long::parseLong, 1, 100_000, "1", "100000"), 0L),
                s.list("allow_cidr", Cidr::parse),
                resolve,
                s.value("ca", Path::of, null),
                llmLimits(s.section("limits", LLM_LIMITS)));
    }

    private static LlmLimits llmLimits(YamlSection s) {
        LlmLimits d = LlmLimits.DEFAULTS;
        if (s == null) {
            return d;
        }
        return new LlmLimits(
                s.value("max_connections", bounded(Long::parseLong, 1, 1_000_000, "1", "1000000"), (long) d.maxConnections()).intValue(),
                s.value("head_timeout", positive(), d.headTimeout()));
    }

    /** A header name the relay may set; never one that frames or routes the request. */
    private static String authHeader(String text) {
        if (!text.matches("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")) {
            throw new IllegalArgumentException("\"" + text + "\" is not an HTTP header name; write e.g. Authorization or x-api-key");
        }
        String lower = text.toLowerCase(Locale.ROOT);
        if (List.of("host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer",
                "keep-alive", "proxy-connection", "expect", "cookie").contains(lower)) {
            throw new IllegalArgumentException("\"" + text + "\" frames or routes the request and cannot carry the key; "
                    + "write the header the API reads the key from, e.g. Authorization");
        }
        return text;
    }

    /** The word before the key, {@code Bearer}; an empty string sends the key alone. */
    private static String authScheme(String text) {
        if (!text.matches("[A-Za-z0-9!#$%&'*+.^_`|~-]{0,32}")) {
            throw new IllegalArgumentException("\"" + text + "\" is not an auth scheme; write one word such as Bearer, or \"\" for the key alone");
        }
        return text;
    }

    private static AuditConfig audit(YamlSection s) {
        if (s == null) {
            return null;
        }
        List<AuditConfig.Alert> alerts = new ArrayList<>();
        for (YamlSection a : s.sections("alerts", ALERT)) {
            alerts.add(new AuditConfig.Alert(a.required("kind", oneOf("webhook")), a.required("url", url("http", "https"))));
        }
        return new AuditConfig(s.value("dir", Path::of, null), alerts);
    }

    private static AwsConfig aws(YamlSection s) {
        if (s == null) {
            return null;
        }
        return new AwsConfig(
                s.value("mode", oneOf("hardened", "seed"), "hardened"),
                s.value("region", ConfigLoader::region, "us-west-2"),
                s.list("admin_cidrs", Cidr::parse));
    }

    /** A duration as the config file spells it: 90m, 8h, 1d. */
    private static String spelled(Duration d) {
        long ms = d.toMillis();
        long[] sizes = {86_400_000L, 3_600_000L, 60_000L, 1000L};
        String[] units = {"d", "h", "m", "s"};
        for (int i = 0; i < sizes.length; i++) {
            if (ms % sizes[i] == 0) {
                return ms / sizes[i] + units[i];
            }
        }
        return ms + "ms";
    }

    // ---- value parsers -------------------------------------------------------------------------

    private static Set<String> keys(String... names) {
        return new LinkedHashSet<>(Arrays.asList(names));
    }

    private static <E extends Enum<E>> Function<String, E> enumOf(Class<E> type) {
        return text -> {
            for (E e : type.getEnumConstants()) {
                if (e.name().toLowerCase(Locale.ROOT).equals(text)) {
                    return e;
                }
            }
            List<String> names = new ArrayList<>();
            for (E e : type.getEnumConstants()) {
                names.add(e.name().toLowerCase(Locale.ROOT));
            }
            throw new IllegalArgumentException("\"" + text + "\" is not one of " + String.join(" | ", names));
        };
    }

    private static Function<String, String> oneOf(String... allowed) {
        return text -> {
            if (Arrays.asList(allowed).contains(text)) {
                return text;
            }
            throw new IllegalArgumentException("\"" + text + "\" is not one of " + String.join(" | ", allowed));
        };
    }

    private static Function<String, Duration> positive() {
        return text -> {
            Duration d = ConfigValues.duration(text);
            if (d.isZero()) {
                throw new IllegalArgumentException("must be more than zero, e.g. 30s");
            }
            return d;
        };
    }

    private static Function<String, Long> bounded(Function<String, Long> parser, long min, long max, String minText, String maxText) {
        return text -> {
            long v;
            try {
                v = parser.apply(text);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("\"" + text + "\" is not a whole number");
            }
            if (v < min || v > max) {
                throw new IllegalArgumentException(text + " is out of range; use " + minText + " to " + maxText);
            }
            return v;
        };
    }

    private static Integer port(String text) {
        try {
            return HostPort.parsePort(text);
        } catch (HostSyntaxException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
    }

    private static String hostName(String text) {
        try {
            return dev.enclave.config.match.HostName.normalize(text);
        } catch (HostSyntaxException e) {
            throw new IllegalArgumentException("\"" + text + "\": " + e.getMessage());
        }
    }

    private static Function<String, URI> url(String... schemes) {
        return text -> {
            URI uri;
            try {
                uri = new URI(text);
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("\"" + text + "\" is not a URL; write e.g. " + schemes[0] + "://host:port");
            }
            if (uri.getScheme() == null || !Arrays.asList(schemes).contains(uri.getScheme()) || uri.getHost() == null) {
                throw new IllegalArgumentException("\"" + text + "\" must be a " + String.join(" or ", schemes)
                        + " URL with a host, e.g. " + schemes[0] + "://host:port");
            }
            if (uri.getUserInfo() != null) {
                throw new IllegalArgumentException("\"" + text + "\" carries credentials; keep secrets out of URLs");
            }
            return uri;
        };
    }

    private static String envName(String text) {
        if (!text.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new IllegalArgumentException("\"" + text + "\" is not an environment variable name");
        }
        return text;
    }

    private static String pathPrefix(String text) {
        if (!text.startsWith("/") || text.contains("..") || text.contains("%") || text.contains("?")) {
            throw new IllegalArgumentException("\"" + text + "\" is not a plain path prefix; write e.g. /v1/chat/completions");
        }
        return text;
    }

    private static String region(String text) {
        if (!text.matches("[a-z]{2}(-[a-z]+)+-[0-9]")) {
            throw new IllegalArgumentException("\"" + text + "\" is not an AWS region name, e.g. us-west-2");
        }
        return text;
    }
}
