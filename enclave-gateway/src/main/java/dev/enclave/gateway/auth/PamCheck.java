package dev.enclave.gateway.auth;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.io.IOException;
import java.lang.ref.Reference;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.jvnet.libpam.PAMException;
import org.jvnet.libpam.UnixUser;
import org.jvnet.libpam.impl.CLibrary;
import org.jvnet.libpam.impl.PAMLibrary;

/**
 * Linux accounts checked through PAM ("standard Linux credentials"), as {@code sshd} or
 * {@code login} would: {@code pam_authenticate} then {@code pam_acct_mgmt}, so a wrong password,
 * a locked or an expired account are all refused. On top of the PAM stack:
 * <ul>
 *   <li>accounts with uid 0 are refused unless {@link Options#allowRoot()};</li>
 *   <li>with {@link Options#group()}, only members of that group (primary or supplementary) log in;
 *       anyone else is refused even with the right password;</li>
 *   <li>these two are decided before PAM is asked, so a refused account costs no password work and
 *       the gateway cannot be used to trip {@code pam_faillock} on accounts it never lets in;</li>
 *   <li>a name unknown to the system still goes through PAM (same cost and delay as a wrong
 *       password, no timing oracle for who exists) and is refused whatever PAM says.</li>
 * </ul>
 * Each check gets its own PAM handle (a handle is not safe to share between threads) and its
 * own conversation, which answers password prompts from a native copy that PAM frees; the
 * gateway never answers any other question (a one-time code, say), so such stacks fail closed.
 * PAM gives no signal when a password changes. When the gateway can read {@code /etc/shadow} (it
 * runs as root or in group {@code shadow}, as {@code pam_unix} needs anyway), the user's
 * {@linkplain #cacheVersion cache version} includes a hash of the user's shadow line, so a new
 * password, a lock ({@code usermod -L}), an expiry change or the account's removal changes it: the
 * verified-credential cache forgets the user and the user's browser sessions end. The line and its
 * hash are never logged. Without a readable shadow file (or for an account kept elsewhere, LDAP
 * say) the version is the same for every check, so only the cache's short lifetime and the
 * sessions' timeouts (or {@code enclave sessions revoke}) end them.
 */
public final class PamCheck implements PasswordCheck {
    /** {@code group} may be null: any account PAM accepts, except root unless {@code allowRoot}. */
    public record Options(String service, String group, boolean allowRoot) {
    }

    /** Where Linux-PAM looks for a service's file: the admin's directory, then the distribution's. */
    static final List<Path> SERVICE_DIRS = List.of(Path.of("/etc/pam.d"), Path.of("/usr/lib/pam.d"));
    private static final Pattern SERVICE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]*");

    // <security/_pam_types.h>
    private static final int PAM_SUCCESS = 0;
    private static final int PAM_BUF_ERR = 5;
    private static final int PAM_PERM_DENIED = 6;
    private static final int PAM_AUTH_ERR = 7;
    private static final int PAM_CRED_INSUFFICIENT = 8;
    private static final int PAM_USER_UNKNOWN = 10;
    private static final int PAM_MAXTRIES = 11;
    private static final int PAM_NEW_AUTHTOK_REQD = 12;
    private static final int PAM_ACCT_EXPIRED = 13;
    private static final int PAM_CONV_ERR = 19;
    private static final int PAM_AUTHTOK_EXPIRED = 27;
    private static final int PAM_USER = 2;
    private static final int PAM_RHOST = 4;
    private static final int PAM_SILENT = 0x8000;
    private static final int PAM_DISALLOW_NULL_AUTHTOK = 0x1;
    private static final int PAM_PROMPT_ECHO_OFF = 1;
    private static final int PAM_ERROR_MSG = 3;
    private static final int PAM_TEXT_INFO = 4;

    /** getpwnam, getgrgid and getgrnam return static buffers: one lookup at a time. */
    private static final Object NSS = new Object();

    private final Options options;
    private final ShadowFile shadow;

    public PamCheck(Options options) {
        this(options, Path.of("/etc/shadow"), 1_000_000_000L);
    }

    /** With another shadow file, looked at again at most every {@code checkNanos} (tests). */
    PamCheck(Options options, Path shadow, long checkNanos) {
        this.options = options;
        this.shadow = new ShadowFile(shadow, checkNanos, "pam:" + options.service() + ":");
    }

    @Override
    public String kind() {
        return "pam";
    }

    @Override
    public void validate() throws IOException {
        String service = options.service();
        if (service == null || !SERVICE_NAME.matcher(service).matches()) {
            throw new IOException("PAM service \"" + service + "\" is not a service name; give the name of a file in /etc/pam.d, "
                    + "e.g. --pam enclave");
        }
        if (serviceFile(service).isEmpty()) {
            // Linux-PAM would quietly use /etc/pam.d/other instead (on Debian: refuse everyone).
            throw new IOException("PAM service \"" + service + "\": /etc/pam.d/" + service + " does not exist; create it with the "
                    + "two lines 'auth required pam_unix.so' and 'account required pam_unix.so', or name an existing service");
        }
        try {
            Reference.reachabilityFence(PAMLibrary.libpam);
        } catch (LinkageError e) {
            throw new IOException("PAM: cannot load libpam (" + e.getMessage() + "); install it, e.g. apt-get install libpam0g", e);
        }
        if (options.group() != null) {
            boolean exists;
            synchronized (NSS) {
                exists = CLibrary.libc.getgrnam(options.group()) != null;
            }
            if (!exists) {
                throw new IOException("PAM group \"" + options.group() + "\" does not exist; create it (groupadd " + options.group()
                        + ") and add the people who may log in (usermod -aG " + options.group() + " USER)");
            }
        }
    }

    /** The service's file, as Linux-PAM would find it. */
    static Optional<Path> serviceFile(String service) {
        return SERVICE_DIRS.stream().map(d -> d.resolve(service)).filter(Files::isRegularFile).findFirst();
    }

    @Override
    public Optional<String> cacheVersion(String user) {
        // PAM tells nothing about password changes; the shadow line does, when it can be read.
        // The same String object while the line is unchanged: sessions compare it without an HMAC.
        return Optional.of(shadow.stampOf(user).orElse("pam:" + options.service()));
    }

    /**
     * {@code /etc/shadow}, read again when it changes (identity, modification time or size, looked
     * at most once per {@code checkNanos}); each user's line is kept only as a hash.
     */
    static final class ShadowFile {
        private final Path path;
        private final long checkNanos;
        private Object version;
        private long checkedAt;
        private boolean checkedOnce;
        private java.util.Map<String, String> stamps = java.util.Map.of();

        private final String prefix;

        ShadowFile(Path path, long checkNanos, String prefix) {
            this.path = path;
            this.checkNanos = checkNanos;
            this.prefix = prefix;
        }

        synchronized Optional<String> stampOf(String user) {
            long now = System.nanoTime();
            if (!checkedOnce || now - checkedAt >= checkNanos) {
                checkedOnce = true;
                checkedAt = now;
                reloadIfChanged();
            }
            return Optional.ofNullable(stamps.get(user));
        }

        private void reloadIfChanged() {
            Object v;
            try {
                var a = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class);
                v = List.of(String.valueOf(a.fileKey()), a.lastModifiedTime(), a.size());
            } catch (IOException e) {
                v = "unreadable";
            }
            if (v.equals(version)) {
                return;
            }
            version = v;
            java.util.Map<String, String> fresh = new java.util.HashMap<>();
            try {
                for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
                    int colon = line.indexOf(':');
                    if (colon > 0) {
                        fresh.put(line.substring(0, colon), prefix + hash(line));
                    }
                }
            } catch (IOException | RuntimeException e) {
                fresh.clear(); // not readable (not root, not in group shadow): every version stays as it was
            }
            stamps = fresh;
        }

        private static String hash(String line) {
            try {
                byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(line.getBytes(StandardCharsets.UTF_8));
                return java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(d);
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is missing from this JDK", e);
            }
        }
    }

    @Override
    public Verdict check(InetAddress source, String user, char[] password, Optional<String> cacheVersion) {
        if (!plausibleName(user) || password.length == 0 || contains(password, '\0')) {
            return Verdict.WRONG_PASSWORD;
        }
        Account account = lookup(user);
        if (account != null && account.uid() == 0 && !options.allowRoot()) {
            return Verdict.refused("root_refused");
        }
        if (account != null && options.group() != null && !account.groups().contains(options.group())) {
            return Verdict.refused("not_in_group " + options.group());
        }
        Verdict pam = authenticate(source, user, password);
        if (account == null) {
            return pam.accepted() ? Verdict.refused("no_linux_account") : Verdict.WRONG_PASSWORD;
        }
        return pam;
    }

    /**
     * A name PAM sees exactly as the gateway does: no NUL or other control character (a NUL would
     * cut the name short on its way to C, and the upstream would get the longer one), no leading
     * '-' (modules pass names to helper programs), no ':' (Basic auth could not have sent it).
     */
    static boolean plausibleName(String user) {
        if (user.isEmpty() || user.length() > 256 || user.charAt(0) == '-') {
            return false;
        }
        for (int i = 0; i < user.length(); i++) {
            char c = user.charAt(i);
            if (c < 0x20 || c == 0x7f || c == ':') {
                return false;
            }
        }
        return true;
    }

    private static boolean contains(char[] password, char c) {
        for (char x : password) {
            if (x == c) {
                return true; // C would see a shorter password than the one typed
            }
        }
        return false;
    }

    private record Account(int uid, Set<String> groups) {
    }

    private static Account lookup(String user) {
        synchronized (NSS) {
            if (!UnixUser.exists(user)) {
                return null;
            }
            try {
                UnixUser u = new UnixUser(user);
                return new Account(u.getUID(), u.getGroups());
            } catch (PAMException e) {
                return null; // vanished between the two calls, or no group list: treated as unknown
            }
        }
    }

    private Verdict authenticate(InetAddress source, String user, char[] password) {
        PAMLibrary pam = PAMLibrary.libpam;
        byte[] secret = utf8(password);
        Conversation answers = new Conversation(secret);
        PAMLibrary.pam_conv conv = new PAMLibrary.pam_conv(answers);
        PointerByReference handleRef = new PointerByReference();
        int rc = pam.pam_start(options.service(), user, conv, handleRef);
        if (rc != PAM_SUCCESS || handleRef.getValue() == null) {
            Arrays.fill(secret, (byte) 0);
            return Verdict.refused("pam_error pam_start returned " + rc);
        }
        PAMLibrary.pam_handle_t handle = new PAMLibrary.pam_handle_t(handleRef.getValue());
        try {
            rc = pam.pam_set_item(handle, PAM_RHOST, source.getHostAddress()); // for the PAM logs and pam_access
            if (rc != PAM_SUCCESS) {
                return Verdict.refused("pam_error " + pam.pam_strerror(handle, rc));
            }
            rc = pam.pam_authenticate(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
            switch (rc) {
                case PAM_SUCCESS -> {
                }
                // A locked account (usermod -L) lands here too: its hash cannot match.
                case PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_CRED_INSUFFICIENT, PAM_MAXTRIES -> {
                    return Verdict.WRONG_PASSWORD;
                }
                default -> {
                    return Verdict.refused("pam_error " + pam.pam_strerror(handle, rc));
                }
            }
            rc = pam.pam_acct_mgmt(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
            switch (rc) {
                case PAM_SUCCESS -> {
                }
                case PAM_ACCT_EXPIRED -> {
                    return Verdict.refused("account_expired");
                }
                case PAM_NEW_AUTHTOK_REQD, PAM_AUTHTOK_EXPIRED -> {
                    return Verdict.refused("password_expired"); // the gateway cannot change it for them
                }
                case PAM_PERM_DENIED, PAM_USER_UNKNOWN -> {
                    return Verdict.refused("account_refused");
                }
                default -> {
                    return Verdict.refused("pam_error " + pam.pam_strerror(handle, rc));
                }
            }
            // A module may map the name it was given to another; the upstream gets the name
            // typed, so it must be the account PAM approved.
            PointerByReference item = new PointerByReference();
            rc = pam.pam_get_item(handle, PAM_USER, item);
            if (rc != PAM_SUCCESS || item.getValue() == null || !user.equals(item.getValue().getString(0, "UTF-8"))) {
                return Verdict.refused("pam_changed_user_name");
            }
            return Verdict.ACCEPTED;
        } finally {
            pam.pam_end(handle, rc);
            Arrays.fill(secret, (byte) 0);
            Reference.reachabilityFence(conv); // PAM calls back into it until pam_end
            Reference.reachabilityFence(answers);
        }
    }

    private static byte[] utf8(char[] password) {
        ByteBuffer b = StandardCharsets.UTF_8.encode(CharBuffer.wrap(password));
        byte[] out = new byte[b.remaining()];
        b.get(out);
        if (b.hasArray()) {
            Arrays.fill(b.array(), (byte) 0);
        }
        return out;
    }

    /**
     * The PAM conversation: each password prompt (echo off) gets the password; informational and
     * error messages get no answer; any other question fails the conversation. Responses live in
     * C memory that PAM frees (after overwriting, in the stock modules).
     */
    private static final class Conversation implements PAMLibrary.pam_conv.PamCallback {
        private static final long RESPONSE_SIZE = 2L * Native.POINTER_SIZE; // struct pam_response { char *resp; int resp_retcode; }
        private final byte[] secret;

        Conversation(byte[] secret) {
            this.secret = secret;
        }

        @Override
        public int callback(int count, Pointer messages, Pointer responses, Pointer appdata) {
            if (count <= 0 || count > 32) {
                return PAM_CONV_ERR;
            }
            long arrayAddress = Native.malloc(count * RESPONSE_SIZE);
            if (arrayAddress == 0) {
                return PAM_BUF_ERR;
            }
            Pointer array = new Pointer(arrayAddress);
            array.clear(count * RESPONSE_SIZE);
            for (int i = 0; i < count; i++) {
                // Linux-PAM passes an array of pointers to struct pam_message { int msg_style; const char *msg; }.
                int style = messages.getPointer((long) i * Native.POINTER_SIZE).getInt(0);
                if (style == PAM_PROMPT_ECHO_OFF) {
                    long copy = Native.malloc(secret.length + 1L);
                    if (copy == 0) {
                        release(array, count);
                        return PAM_BUF_ERR;
                    }
                    Pointer p = new Pointer(copy);
                    p.write(0, secret, 0, secret.length);
                    p.setByte(secret.length, (byte) 0);
                    array.setPointer(i * RESPONSE_SIZE, p);
                } else if (style != PAM_ERROR_MSG && style != PAM_TEXT_INFO) {
                    release(array, count);
                    return PAM_CONV_ERR;
                }
            }
            responses.setPointer(0, array);
            return PAM_SUCCESS;
        }

        private void release(Pointer array, int count) {
            for (int i = 0; i < count; i++) {
                Pointer p = array.getPointer(i * RESPONSE_SIZE);
                if (p != null) {
                    p.clear(secret.length);
                    Native.free(Pointer.nativeValue(p));
                }
            }
            Native.free(Pointer.nativeValue(array));
        }
    }
}
