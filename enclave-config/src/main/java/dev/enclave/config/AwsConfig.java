package dev.enclave.config;

import dev.enclave.config.match.Cidr;
import java.util.List;

/** The {@code aws:} section. */
public record AwsConfig(String mode, String region, List<Cidr> adminCidrs) {
}
