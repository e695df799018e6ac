package dev.enclave.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The source address of the next brute-force attempt: the gateway's bans last (an hour by default,
 * and across restarts), so each verify run attacks from an address of enclave-net's subnet it has
 * not used before, counting up from 10.0.0.100 and wrapping after 10.0.0.249.
 */
final class LabAttacker {
    private LabAttacker() {
    }

    static synchronized String nextAddress(LabContext lab) throws IOException {
        Path counter = lab.dir().resolve("run").resolve("next-attacker");
        int n = LabAddresses.ATTACKER_FIRST;
        if (Files.exists(counter)) {
            try {
                n = Integer.parseInt(Files.readString(counter).strip());
            } catch (NumberFormatException e) {
                n = LabAddresses.ATTACKER_FIRST;
            }
        }
        if (n < LabAddresses.ATTACKER_FIRST || n > LabAddresses.ATTACKER_LAST) {
            n = LabAddresses.ATTACKER_FIRST;
        }
        Files.writeString(counter, Integer.toString(n + 1));
        return LabAddresses.ATTACKER_PREFIX + n;
    }
}
