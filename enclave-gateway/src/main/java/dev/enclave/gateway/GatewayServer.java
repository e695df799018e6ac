package dev.enclave.gateway;

import dev.enclave.audit.AuditEvent;
import dev.enclave.audit.AuditLog;
import dev.enclave.gateway.auth.Authenticator;
import dev.enclave.gateway.auth.CredentialCache;
import dev.enclave.gateway.auth.LockoutTracker;
import dev.enclave.gateway.auth.NftablesBans;
import dev.enclave.gateway.auth.PamCheck;
import dev.enclave.gateway.auth.PasswordCheck;
import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.gateway.auth.UsersFileCheck;
import dev.enclave.gateway.proxy.UpstreamPool;
import dev.enclave.gateway.session.SessionStore;
import dev.enclave.gateway.tls.SelfSignedCertificate;
import dev.enclave.gateway.tls.ReloadingTlsContext;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Binds the gateway: HTTPS on {@code listen} and, optionally, a plain-HTTP listener that only
 * redirects. Owns the event loops, the bounded password-hashing pool and the browser sessions.
 */
public final class GatewayServer implements AutoCloseable {
    private final GatewaySettings settings;
    private final AuditLog audit;
    private final Clock clock;
    private final List<Channel> listeners = new ArrayList<>();
    private EventLoopGroup loops;
    private ThreadPoolExecutor hashing;
    private ExecutorService handshakes;
    private SessionStore sessions;
    private String fingerprint;
    private final Consumer<String> notices;
    private ReloadingTlsContext tls;
    private ScheduledExecutorService tlsWatch;
    private NftablesBans kernelBans;
    private LockoutTracker lockout;

    public GatewayServer(GatewaySettings settings, AuditLog audit) {
        this(settings, audit, System.err::println, Clock.systemUTC());
    }

    /** {@code notices}: where one-line operator messages go that arise while running (standard error by default). */
    public GatewayServer(GatewaySettings settings, AuditLog audit, Consumer<String> notices) {
        this(settings, audit, notices, Clock.systemUTC());
    }

    /** With {@code clock} for browser sessions (tests move it to reach their timeouts). */
    GatewayServer(GatewaySettings settings, AuditLog audit, Consumer<String> notices, Clock clock) {
        this.settings = settings;
        this.audit = audit;
        this.notices = notices;
        this.clock = clock;
    }

    /** Starts; returns the HTTPS address. Errors name the file or address at fault and how to fix it. */
    public InetSocketAddress start() throws IOException, InterruptedException, UserFileException {
        if (settings.tlsCert() != null) {
            tls = ReloadingTlsContext.open(settings.tlsCert(), settings.tlsKey());
        } else {
            SelfSignedCertificate cert = SelfSignedCertificate.ensure(settings.stateDir(), settings.names(),
                    List.of(settings.listen().getAddress().isAnyLocalAddress()
                            ? java.net.InetAddress.getLoopbackAddress() : settings.listen().getAddress()));
            fingerprint = cert.fingerprint();
            tls = ReloadingTlsContext.open(cert.certFile(), cert.keyFile());
        }
        lockout = LockoutTracker.open(settings.stateDir(), settings.maxFailures(), settings.failureWindow(),
                settings.ban(), Clock.systemUTC());
        lockout.auditTo(audit);
        // Password hashing and TLS handshake crypto never run on an event loop, and each gets at
        // most half the cores: a flood of guesses or of new connections then leaves the other half
        // to the users already logged in (measured: bench/RESULTS.md, "flood"). Excess password
        // checks wait in a short queue and are then answered 503 rather than starving everyone.
        int cores = Runtime.getRuntime().availableProcessors();
        int workers = sideWorkers(cores);
        hashing = new ThreadPoolExecutor(workers, workers, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(8 * workers),
                daemon("enclave-password-hash"));
        // Unbounded queue: each connection has at most one handshake task queued at a time, so
        // the queue is bounded by the number of open connections.
        int handshakeThreads = Integer.getInteger("enclave.tls.handshake.threads", workers); // 0: on the event loop (bench A/B)
        handshakes = handshakeThreads <= 0 ? null : Executors.newFixedThreadPool(handshakeThreads, daemon("enclave-tls-handshake"));
        // PAM shows no password change, so its verified credentials are trusted for a shorter time.
        PasswordCheck check = settings.pam() != null ? new PamCheck(settings.pam())
                : new UsersFileCheck(new Authenticator.UsersFile(settings.users()), new PasswordHasher());
        Authenticator authenticator = new Authenticator(check, lockout,
                new CredentialCache(settings.pam() != null ? Duration.ofMinutes(1) : Duration.ofMinutes(5), 10_000, Clock.systemUTC()),
                hashing, audit);
        try {
            check.validate();
            sessions = SessionStore.open(settings.stateDir(), SessionStore.Limits.of(settings.sessionIdle(),
                    settings.sessionAbsolute()), authenticator::credentialOf, clock, e -> audit.write(
                    AuditEvent.of("gateway", "error").put("reason", "cannot save sessions: " + e.getMessage())));
        } catch (UserFileException | IOException e) {
            close();
            throw e;
        }
        loops = new MultiThreadIoEventLoopGroup(cores, NioIoHandler.newFactory());
        InetSocketAddress upstream = new InetSocketAddress(settings.upstream().getHost(),
                settings.upstream().getPort() > 0 ? settings.upstream().getPort() : 80);
        UpstreamPool upstreams = new UpstreamPool(upstream, NioSocketChannel.class, audit, settings.upgradedIdle(),
                UpstreamPool.DEFAULT_MAX_IDLE_PER_LOOP, UpstreamPool.DEFAULT_IDLE_TIMEOUT);
        Channel https = bind(new GatewayInitializer(tls, authenticator, lockout, sessions, audit, upstreams, settings.maxHeadBytes(),
                settings.clientIdle(), settings.sessionRecheck(), handshakes),
                settings.listen());
        InetSocketAddress bound = (InetSocketAddress) https.localAddress();
        if (settings.redirectHttp() != null) {
            bind(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast(new HttpServerCodec(8192, 16 * 1024, 8192), new RedirectHandler(bound.getPort()));
                }
            }, settings.redirectHttp());
        }
        if (settings.nftCommand() != null) {
            List<InetSocketAddress> ports = new ArrayList<>();
            listeners.forEach(c -> ports.add((InetSocketAddress) c.localAddress()));
            try {
                kernelBans = NftablesBans.start(settings.nftCommand(), ports, lockout, Clock.systemUTC(), audit, notices);
            } catch (IOException e) {
                close();
                throw e;
            }
        }
        watchTlsFiles();
        audit.write(AuditEvent.of("gateway", "start").put("listen", bound.getAddress().getHostAddress() + ":" + bound.getPort()).put("upstream", settings.upstream().toString())
                .put("fingerprint", fingerprint));
        return bound;
    }

    /**
     * Serves the certificate and key files as they are now, if they pass the checks of
     * {@link ReloadingTlsContext}; otherwise keeps the current pair. Audited and reported either way.
     */
    public ReloadingTlsContext.Outcome reloadTls() {
        ReloadingTlsContext.Outcome o = tls.reload();
        report(o);
        return o;
    }

    /** Every 2 s: a replaced certificate or key (both settled) is taken without a restart. */
    private void watchTlsFiles() {
        tlsWatch = Executors.newSingleThreadScheduledExecutor(daemon("enclave-tls-watch"));
        tlsWatch.scheduleWithFixedDelay(() -> {
            try {
                ReloadingTlsContext.Outcome o = tls.reloadIfChanged();
                if (o != null) {
                    report(o);
                }
            } catch (RuntimeException e) {
                notices.accept("enclave gateway: checking the TLS files failed: " + e);
            }
        }, 2, 2, TimeUnit.SECONDS);
    }

    private void report(ReloadingTlsContext.Outcome o) {
        audit.write(AuditEvent.of("gateway", "tls_reload").put("result", o.refused() ? "refused" : "ok")
                .put("cert", tls.certFile().toString()).put("fingerprint", o.loaded().fingerprint()).put("reason", o.problem()));
        notices.accept(o.refused()
                ? "enclave gateway: TLS reload refused, still serving the previous certificate: " + o.problem()
                : "enclave gateway: TLS certificate reloaded from " + tls.certFile() + ", SHA-256 " + o.loaded().fingerprint());
    }

    /** SHA-256 fingerprint of the self-signed certificate, or null when the operator gave one. */
    public String fingerprint() {
        return fingerprint;
    }

    /** Bound address of the redirect listener, or null. */
    public InetSocketAddress redirectAddress() {
        return listeners.size() > 1 ? (InetSocketAddress) listeners.get(1).localAddress() : null;
    }

    private Channel bind(ChannelInitializer<SocketChannel> init, InetSocketAddress at) throws IOException, InterruptedException {
        ChannelFuture f = new ServerBootstrap().group(loops).channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new io.netty.channel.WriteBufferWaterMark(64 * 1024, 256 * 1024))
                .childHandler(init).bind(at).await();
        if (!f.isSuccess()) {
            close();
            throw new IOException("cannot listen on " + at.getAddress().getHostAddress() + ":" + at.getPort() + " ("
                    + f.cause().getMessage() + ")", f.cause());
        }
        listeners.add(f.channel());
        return f.channel();
    }

    /** Threads for work kept off the event loops (hashing, handshakes): half the cores, at least one. */
    static int sideWorkers(int cores) {
        return Math.max(1, cores / 2);
    }

    private static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public synchronized void close() {
        listeners.forEach(c -> c.close().syncUninterruptibly());
        listeners.clear();
        if (loops != null) {
            loops.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            loops = null;
        }
        if (handshakes != null) {
            handshakes.shutdownNow();
        }
        if (hashing != null) {
            hashing.shutdownNow();
        }
        if (sessions != null) {
            sessions.close(); // writes the last-seen times of the last minute
            sessions = null;
        }
        if (tlsWatch != null) {
            tlsWatch.shutdownNow();
        }
        if (kernelBans != null) {
            kernelBans.close(); // deletes the table; the bans stay in the state directory
            kernelBans = null;
        }
        if (lockout != null) {
            lockout.close(); // a ban of the last moment is written before the process ends
            lockout = null;
        }
    }
}
