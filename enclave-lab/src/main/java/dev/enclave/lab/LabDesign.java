package dev.enclave.lab;

/**
 * One way of building the lab's public and private sides. The checks are the same for every design;
 * each check says per design what it should do ({@link LabCheck#expected()}, keyed by {@link #name()}).
 *
 * @param name        the {@code --design} value
 * @param summary     one line for the table's heading
 * @param appRoutedOut whether the app's namespace gets a default route to the internet through the
 *                    public host: then nothing but the design's own controls stands between the
 *                    app and the internet
 */
public record LabDesign(String name, String summary, boolean appRoutedOut) {
    /**
     * Enclave's design: the app in its own namespace behind the host firewall (nftables, only the
     * egress proxy and the LLM relay reachable), the proxy allowing names, the relay holding the key.
     * The lab gives the app a route out all the same, so that every denial below is the firewall's
     * or the proxy's doing and not a missing route.
     */
    public static final LabDesign ENCLAVE = new LabDesign("enclave",
            "Enclave: app namespace behind the host firewall; egress proxy (names) and LLM relay (key) as its only ways out; gateway in front",
            true);

    /**
     * The seed guide's design: the app side routed out through a NAT in enclave-pub, its own controls
     * the seed's restrict_network.sh (iptables OUTPUT chain, addresses pinned from one DNS answer),
     * the key in a systemd-unit-like file, the app's user allowed sudo. Enclave's gateway stays in
     * front (the seed's nginx, Basic auth and fail2ban are not rebuilt); nothing of Enclave's is on
     * the app's path out. Built by {@link SeedControls}.
     */
    public static final LabDesign SEED = new LabDesign("seed",
            "the seed guide: NAT out, restrict_network.sh (iptables OUTPUT, pinned IPs), key in the unit file, app user with sudo; Enclave's gateway in front",
            true);

    public static LabDesign named(String name) {
        for (LabDesign d : new LabDesign[] {ENCLAVE, SEED}) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown design \"" + name + "\"; the lab builds: " + ENCLAVE.name() + ", " + SEED.name());
    }
}
