package dev.enclave.cli;

import dev.enclave.config.GatewayConfig;
import dev.enclave.gateway.auth.PamCheck;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code enclave gateway --pam}: the flags merged over the config, and what the operator is told at start. */
final class PamStartup {
    private PamStartup() {
    }

    /**
     * PAM settings from {@code --pam}/{@code --pam-group}/{@code --pam-allow-root} over the
     * config's {@code gateway.auth}, or null for the users file. {@code --users} on the command
     * line wins over {@code pam:} in the config, as every flag wins over the file.
     */
    static PamCheck.Options options(String pam, String pamGroup, boolean pamAllowRoot, boolean usersFlag, GatewayConfig.Auth config) {
        if (pam != null && usersFlag) {
            throw UserError.usage("give either --users FILE or --pam SERVICE, not both");
        }
        String service = pam != null ? pam : !usersFlag && config != null ? config.pam() : null;
        if (service == null) {
            if (pamGroup != null || pamAllowRoot) {
                throw UserError.usage((pamGroup != null ? "--pam-group" : "--pam-allow-root")
                        + " applies to Linux accounts only; add --pam SERVICE (or pam: in the config)");
            }
            return null;
        }
        String group = pamGroup != null ? pamGroup : config != null ? config.pamGroup() : null;
        boolean allowRoot = pamAllowRoot || config != null && config.pamAllowRoot();
        return new PamCheck.Options(service, group, allowRoot);
    }

    static void announce(PamCheck.Options pam) {
        System.err.println("enclave gateway: logins are Linux accounts through PAM service " + pam.service()
                + (pam.group() != null ? ", members of group " + pam.group() + " only" : "")
                + (pam.allowRoot() ? ", root allowed" : ", root refused"));
        if (!Files.isReadable(Path.of("/etc/shadow"))) {
            // pam_unix then asks its setuid helper, which checks only the caller's own password.
            System.err.println("enclave gateway: warning: this process cannot read /etc/shadow, so pam_unix can check only the "
                    + "password of the account the gateway runs as; run it as root or in group shadow, unless the PAM "
                    + "service uses another source (sssd, LDAP)");
        }
    }
}
