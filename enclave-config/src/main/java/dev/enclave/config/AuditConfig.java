package dev.enclave.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/** The {@code audit:} section. */
public record AuditConfig(Path dir, List<Alert> alerts) {

    public record Alert(String kind, URI url) {
    }
}
