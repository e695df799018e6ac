package dev.enclave.host;

/**
 * One way out of the app side: new connections to {@code to} (an IPv4 address, or a range for
 * {@code host.allow}) over {@code protocol}, to {@code port} or to every port when it is null.
 *
 * @param label what it is, as the kernel shows it ({@code nft list}): a short rule comment
 * @param from  the config key it comes from, so a reader can trace every opening to the file
 */
public record Destination(String to, String protocol, Integer port, String label, String from) {

    /** The nft match for this destination, e.g. {@code ip daddr 10.77.1.1 tcp dport 3128}. */
    String match() {
        return "ip daddr " + to + (port == null ? " meta l4proto " + protocol : " " + protocol + " dport " + port);
    }

    /** As people write it: 10.77.1.1:3128/tcp, or 172.17.0.0/16 (every tcp port). */
    String spelled() {
        return port == null ? to + " (every " + protocol + " port)" : to + ":" + port + "/" + protocol;
    }
}
