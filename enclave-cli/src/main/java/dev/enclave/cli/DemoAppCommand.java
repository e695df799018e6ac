package dev.enclave.cli;

import dev.enclave.cli.demo.DemoAppServer;
import dev.enclave.config.ConfigValues;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code enclave demo-app} (hidden): the app {@code enclave up} runs in the namespace when
 * {@code app.command} is not set, so a newcomer sees the whole path work ({@link DemoAppServer}).
 * It is configured the way any app is, by its environment: the relay from {@code OPENAI_BASE_URL}
 * (or {@code LLM_BASE_URL}) with the placeholder key in {@code OPENAI_API_KEY}, the egress proxy
 * from {@code HTTPS_PROXY}.
 */
@Command(name = "demo-app", hidden = true, description = "The built-in demo app (run by 'enclave up' inside the app namespace).")
final class DemoAppCommand implements Callable<Integer> {
    @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "Where to serve the page (default 10.77.1.2:3000).")
    String listen = "10.77.1.2:3000";

    @Option(names = "--model", paramLabel = "NAME", description = "Model to ask (default gpt-4o-mini).")
    String model = "gpt-4o-mini";

    @Override
    public Integer call() throws Exception {
        InetSocketAddress at = ConfigValues.socketAddress(listen);
        String relay = firstSet("OPENAI_BASE_URL", "LLM_BASE_URL");
        String key = firstSet("OPENAI_API_KEY", "LLM_API_KEY");
        String proxy = firstSet("HTTPS_PROXY", "https_proxy");
        if (relay.isEmpty()) {
            throw UserError.usage("the demo app needs OPENAI_BASE_URL (or LLM_BASE_URL), the LLM relay's URL; 'enclave up' sets it");
        }
        DemoAppServer server = new DemoAppServer(new DemoAppServer.Settings(at, URI.create(relay), key, model,
                proxy.isEmpty() ? null : URI.create(proxy)));
        server.start();
        System.err.println("enclave demo-app: listening on http://" + listen + "; LLM relay at " + relay + ", proxy " + proxy);
        new CountDownLatch(1).await(); // until the supervisor stops it
        return ExitCodes.OK;
    }

    private static String firstSet(String... names) {
        for (String n : names) {
            String v = System.getenv(n);
            if (v != null && !v.isBlank()) {
                return v.strip();
            }
        }
        return "";
    }
}
