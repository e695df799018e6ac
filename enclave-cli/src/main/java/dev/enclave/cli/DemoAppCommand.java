package dev.enclave.cli;

import com.sun.net.httpserver.HttpServer;
import dev.enclave.config.ConfigValues;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code enclave demo-app} (hidden): the app 'enclave up' runs in the namespace when app.command is not set. */
@Command(name = "demo-app", hidden = true, description = "The built-in demo app (run by 'enclave up' inside the app namespace).")
final class DemoAppCommand implements Callable<Integer> {
    @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "Where to serve the page (default 10.77.1.2:3000).")
    String listen = "10.77.1.2:3000";

    @Override
    public Integer call() throws Exception {
        InetSocketAddress at = ConfigValues.socketAddress(listen);
        HttpServer server = HttpServer.create(at, 64);
        server.createContext("/", exchange -> {
            byte[] page = "<!doctype html><title>Enclave demo app</title><h1>Enclave demo app</h1>\n".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
            exchange.sendResponseHeaders(200, page.length);
            exchange.getResponseBody().write(page);
            exchange.close();
        });
        server.start();
        System.err.println("enclave demo-app: listening on http://" + listen);
        new CountDownLatch(1).await();
        return ExitCodes.OK;
    }
}
