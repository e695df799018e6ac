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

    public static LabDesign named(String name) {
        if (ENCLAVE.name().equals(name)) {
            return ENCLAVE;
        }
        throw new IllegalArgumentException("unknown design \"" + name + "\"; the lab builds: " + ENCLAVE.name());
    }
}
