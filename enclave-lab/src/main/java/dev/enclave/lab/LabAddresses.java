package dev.enclave.lab;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where everything in the lab lives. The two subnets are the seed's (public 10.0.0.0/24, private
 * 10.0.1.0/24); the fake internet's sites sit on documentation addresses (TEST-NET-2 and -3) on a
 * the loopback interface of {@code enclave-net}, plus 8.8.8.8 and the metadata address, so that no lab
 * packet can be mistaken for, or leak to, a real host: the namespaces have no link to the machine's
 * own network.
 */
public final class LabAddresses {
    public static final String NET_NS = "enclave-net";
    public static final String PUB_NS = "enclave-pub";
    public static final String APP_NS = "enclave-app";
    /** A container behind the app host, as Docker makes one: its own namespace, routed through enclave-app. */
    public static final String CONTAINER_NS = "enclave-ctr";
    /** The container link's ends (Docker's docker0 and its default subnet), and the container's address. */
    public static final String CONTAINER_LINK = "docker0";
    public static final String CONTAINER_GATEWAY = "172.17.0.1";
    public static final String CONTAINER = "172.17.0.2";
    public static final String CONTAINER_SUBNET = "172.17.0.0/16";
    /** The seed design's app user: made by lab up, removed by lab down (with its sudoers file). */
    public static final String SEED_USER = "enclave-seed-app";

    /** enclave-net's end of the public link: the internet's router (the seed's internet gateway). */
    public static final String ROUTER = "10.0.0.1";
    /** The internet's resolver, where the seed's VPC resolver sits (the subnet's base + 2). */
    public static final String RESOLVER = "10.0.0.2";
    /** The public host (gateway, egress proxy, LLM relay), enclave-pub's end of the public link. */
    public static final String PUB = "10.0.0.10";
    /** The public host's end of the private link (AppNamespace's host side). */
    public static final String PUB_PRIVATE = "10.0.1.1";
    /** The app. */
    public static final String APP = "10.0.1.2";
    public static final int APP_PORT = 3000;
    public static final int GATEWAY_PORT = 8443;
    /** The gateway's plain-HTTP port, which only redirects to HTTPS. */
    public static final int REDIRECT_PORT = 8080;
    /** What the app's page (the built-in demo app) says in its title. */
    public static final String APP_TITLE = "Enclave demo app";
    public static final int EGRESS_PORT = 3128;
    public static final int RELAY_PORT = 4000;

    /**
     * Interface names: enclave-net's end of the public link, enclave-pub's end, and where the sites'
     * addresses sit (enclave-net's loopback: local to it, reached through its router address; a dummy
     * interface would do too, but not every kernel has the module).
     */
    public static final String NET_LINK = "to-pub";
    public static final String PUB_LINK = "eth0";
    public static final String SITES_LINK = "lo";

    public static final String LLM_API = "203.0.113.10";
    /** Where the LLM API moves when a check changes its address (as a provider's IPs rotate). */
    public static final String LLM_API_MOVED = "203.0.113.11";
    /** The fake internet's control port (on enclave-net's loopback only): moves the API and back. */
    public static final int CONTROL_PORT = 8099;
    public static final String GOOGLE = "198.51.100.10";
    public static final String GITHUB = "198.51.100.20";
    public static final String EXAMPLE = "198.51.100.30";
    public static final String NTP = "198.51.100.123";
    public static final String PUBLIC_DNS = "8.8.8.8";
    public static final String METADATA = "169.254.169.254";

    public static final String LLM_NAME = "api.openai.com";
    /** Another site served from the LLM API's address, as on a shared CDN or load balancer. */
    public static final String NEIGHBOUR_NAME = "drop.attacker.example";
    public static final String NTP_NAME = "pool.ntp.org";

    /** Source addresses in enclave-net for the ban check: each verify run takes a fresh one (bans last). */
    public static final String ATTACKER_PREFIX = "10.0.0.";
    public static final int ATTACKER_FIRST = 100;
    public static final int ATTACKER_LAST = 249;

    private LabAddresses() {
    }

    /** The names the internet's resolver answers, and their addresses. */
    public static Map<String, String> names() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(LLM_NAME, LLM_API);
        m.put(NEIGHBOUR_NAME, LLM_API);
        m.put("google.com", GOOGLE);
        m.put("www.google.com", GOOGLE);
        m.put("github.com", GITHUB);
        m.put("example.com", EXAMPLE);
        m.put("www.example.com", EXAMPLE);
        m.put(NTP_NAME, NTP);
        return m;
    }

    /** The addresses on enclave-net's loopback. */
    public static String[] siteAddresses() {
        return new String[] {LLM_API, LLM_API_MOVED, GOOGLE, GITHUB, EXAMPLE, NTP, PUBLIC_DNS, METADATA};
    }
}
