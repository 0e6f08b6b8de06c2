package org.citybench.hivemq;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;

/**
 * Raises HiveMQ CE's per-client window of unacknowledged QoS 1/2 PUBLISHes to
 * subscribers. CE caps it at InternalConfigurations.MAX_INFLIGHT_WINDOW_SIZE_MESSAGES
 * = 50 (MQTT 5 clients get min(receive maximum, 50)) and config.xml has no setting for
 * it. A subscriber that acknowledges only after its own downstream write (the citybench
 * bridge acks after Kafka acks=all) is then capped at 50 messages per round trip
 * whatever its own limits; with Kafka round trips of 0.5-1 s on a shared host that is
 * below the smoke scenario's 200 msg/s, and the backlog grows in the broker. Mosquitto
 * runs with max_inflight_messages 0 for the same reason.
 *
 * The value comes from CITYBENCH_HIVEMQ_MAX_INFLIGHT; unset leaves HiveMQ's default,
 * so the image behaves like upstream hivemq/hivemq-ce unless asked.
 */
final class InflightWindow {
    static final String ENV = "CITYBENCH_HIVEMQ_MAX_INFLIGHT";
    private static final String CLASS = "com.hivemq.configuration.service.InternalConfigurations";
    private static final String FIELD = "MAX_INFLIGHT_WINDOW_SIZE_MESSAGES";

    private InflightWindow() {
    }

    static void apply() {
        String raw = System.getenv(ENV);
        if (raw == null || raw.isBlank()) {
            return;
        }
        int n;
        try {
            n = Integer.parseInt(raw.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(ENV + "=" + raw + ": not an integer", e);
        }
        if (n < 1 || n > 65535) {
            throw new IllegalArgumentException(ENV + "=" + raw + ": want 1..65535 (MQTT packet ids)");
        }
        try {
            // The broker's classes are on the application class path; the extension's
            // own class loader only exposes the extension SDK.
            Class<?> c = Class.forName(CLASS, true, ClassLoader.getSystemClassLoader());
            Field f = c.getField(FIELD);
            int mod = f.getModifiers();
            if (!Modifier.isStatic(mod) || Modifier.isFinal(mod) || f.getType() != int.class) {
                throw new IllegalStateException(CLASS + "." + FIELD + " is no longer a mutable static int");
            }
            int old = f.getInt(null);
            f.setInt(null, n);
            System.out.println("citybench: HiveMQ " + FIELD + " " + old + " -> " + n + " (" + ENV + ")");
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Loud: a broker silently left at 50 is the failure this class exists to prevent.
            throw new IllegalStateException("citybench: cannot set HiveMQ's in-flight window: " + e, e);
        }
    }
}
