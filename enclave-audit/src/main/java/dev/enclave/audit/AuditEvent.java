package dev.enclave.audit;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One audit record: an ordered set of fields with string, number or boolean values. Fields with
 * a null value are left out, so a line never carries {@code "sni":null} noise.
 */
public final class AuditEvent {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    private AuditEvent(String component, String event) {
        fields.put("component", component);
        fields.put("event", event);
    }

    public static AuditEvent of(String component, String event) {
        return new AuditEvent(component, event);
    }

    public AuditEvent put(String key, Object value) {
        if (value == null) {
            return this;
        }
        if (!(value instanceof String || value instanceof Number || value instanceof Boolean)) {
            value = value.toString();
        }
        fields.put(key, value);
        return this;
    }

    Map<String, Object> fields() {
        return Collections.unmodifiableMap(fields);
    }
}
