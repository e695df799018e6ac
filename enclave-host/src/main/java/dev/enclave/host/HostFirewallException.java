package dev.enclave.host;

/** The firewall could not be read or changed; the message is one line naming the cause and the fix. */
public final class HostFirewallException extends Exception {
    private static final long serialVersionUID = 1L;

    public HostFirewallException(String message) {
        super(message, null, false, false);
    }
}
