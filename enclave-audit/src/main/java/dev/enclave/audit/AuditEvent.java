package dev.enclave.audit;

import java.util.Arrays;

/**
 * One audit record: an ordered set of fields with string, number or boolean values. Fields with
 * a null value are left out, so a line never carries {@code "sni":null} noise. Putting a field
 * that is already there replaces its value and keeps its place.
 *
 * <p>Fields are kept in two parallel arrays, not a map: a relay call's line has about twenty
 * fields and is built once per call on an event loop, where a {@code LinkedHashMap}'s entry
 * objects and hashing were a measurable share of the call's CPU (bench/RESULTS.md).
 */
public final class AuditEvent {
    private String[] keys = new String[24];
    private Object[] values = new Object[24];
    private int size;

    private AuditEvent(String component, String event) {
        put("component", component);
        put("event", event);
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
        for (int i = 0; i < size; i++) {
            if (keys[i].equals(key)) {
                values[i] = value;
                return this;
            }
        }
        if (size == keys.length) {
            keys = Arrays.copyOf(keys, size * 2);
            values = Arrays.copyOf(values, size * 2);
        }
        keys[size] = key;
        values[size] = value;
        size++;
        return this;
    }

    /** How many fields, in the order they were first put. */
    int size() {
        return size;
    }

    String key(int i) {
        return keys[i];
    }

    Object value(int i) {
        return values[i];
    }
}
