package org.citybench.hivemq;

import com.hivemq.extension.sdk.api.ExtensionMain;
import com.hivemq.extension.sdk.api.auth.SimpleAuthenticator;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartOutput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopOutput;
import com.hivemq.extension.sdk.api.services.Services;

/**
 * Lets every MQTT client connect. HiveMQ CE refuses all clients when no security
 * extension is installed; the upstream hivemq/hivemq-ce image ships an allow-all
 * extension enabled by default, and the offline image must behave the same. It also
 * applies InflightWindow before letting anyone in.
 */
public final class AllowAll implements ExtensionMain {
    @Override
    public void extensionStart(ExtensionStartInput in, ExtensionStartOutput out) {
        try {
            InflightWindow.apply();
        } catch (RuntimeException e) {
            out.preventExtensionStartup(e.getMessage());
            return;
        }
        SimpleAuthenticator allow = (input, output) -> output.authenticateSuccessfully();
        Services.securityRegistry().setAuthenticatorProvider(providerInput -> allow);
    }

    @Override
    public void extensionStop(ExtensionStopInput in, ExtensionStopOutput out) {
    }
}
