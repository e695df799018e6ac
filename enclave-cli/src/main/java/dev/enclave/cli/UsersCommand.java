package dev.enclave.cli;

import dev.enclave.gateway.auth.PasswordHasher;
import dev.enclave.gateway.auth.UserFileException;
import dev.enclave.gateway.auth.UserStore;
import java.io.ByteArrayOutputStream;
import java.io.Console;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code enclave users add|del|passwd|list}: the gateway's file-backed users. Passwords are read
 * from a prompt (twice) or, for scripts, from standard input with {@code --password-stdin}; never
 * from the command line, where other users could read them in the process list.
 */
@Command(name = "users", mixinStandardHelpOptions = true, description = "Manage the gateway's users file (argon2id hashes, mode 0600).",
        subcommands = {UsersCommand.Add.class, UsersCommand.Del.class, UsersCommand.Passwd.class, UsersCommand.List.class,
                UsersCommand.ImportHtpasswd.class})
final class UsersCommand {
    static final String DEFAULT_FILE = "/var/lib/enclave/users";
    static final int MIN_PASSWORD = 12;
    static final int MAX_PASSWORD = 1024;

    /** Options every subcommand shares. */
    static class FileOption {
        @Option(names = "--users", paramLabel = "FILE", description = "The users file (default " + DEFAULT_FILE + ").")
        Path file = Path.of(DEFAULT_FILE);
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Add a user.")
    static final class Add extends FileOption implements Callable<Integer> {
        @Parameters(paramLabel = "NAME", description = "User name: 1-32 of a-z 0-9 _ . -")
        String name;

        @Option(names = "--password-stdin", description = "Read the password from standard input instead of a prompt.")
        boolean stdin;

        @Override
        public Integer call() {
            checkName(name);
            String hash = hashNewPassword(stdin);
            edit(file, s -> {
                if (s.contains(name)) {
                    throw UserError.usage("user \"" + name + "\" already exists in " + file
                            + "; use 'enclave users passwd " + name + "' to change the password");
                }
                return s.with(name, hash);
            });
            System.out.println("added " + name + " to " + file);
            return ExitCodes.OK;
        }
    }

    @Command(name = "passwd", mixinStandardHelpOptions = true, description = "Set a user's password.")
    static final class Passwd extends FileOption implements Callable<Integer> {
        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--password-stdin", description = "Read the password from standard input instead of a prompt.")
        boolean stdin;

        @Override
        public Integer call() {
            checkName(name);
            String hash = hashNewPassword(stdin);
            edit(file, s -> s.with(requireUser(s, name, file), hash));
            System.out.println("changed the password of " + name);
            return ExitCodes.OK;
        }
    }

    @Command(name = "del", mixinStandardHelpOptions = true, description = "Remove a user.")
    static final class Del extends FileOption implements Callable<Integer> {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public Integer call() {
            checkName(name);
            edit(file, s -> s.without(requireUser(s, name, file)));
            System.out.println("removed " + name + " from " + file);
            return ExitCodes.OK;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List user names, one per line.")
    static final class List extends FileOption implements Callable<Integer> {
        @Override
        public Integer call() {
            try {
                UserStore.load(file).names().forEach(System.out::println);
            } catch (UserFileException e) {
                throw UserError.usage(e.getMessage());
            } catch (IOException e) {
                throw UserError.usage("cannot read " + file + ": " + e.getMessage());
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "import-htpasswd", mixinStandardHelpOptions = true,
            description = {"Import users from an htpasswd file (the seed design's nginx auth_basic).",
                    "bcrypt ($2y$) and apr1 ($apr1$) hashes are kept until each user's next login stores argon2id;",
                    "weaker formats ({SHA}, crypt, plain) are refused. All lines are checked before anything is written."})
    static final class ImportHtpasswd extends FileOption implements Callable<Integer> {
        @Parameters(paramLabel = "HTPASSWD")
        Path htpasswd;

        @Override
        public Integer call() {
            java.util.List<String[]> entries = new java.util.ArrayList<>();
            java.util.List<String> lines;
            try {
                lines = java.nio.file.Files.readAllLines(htpasswd, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw UserError.usage("cannot read " + htpasswd + ": " + e.getMessage());
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String where = htpasswd + ":" + (i + 1);
                int colon = line.indexOf(':');
                if (colon <= 0) {
                    throw UserError.usage(where + ": not a name:hash line; nothing was imported");
                }
                String name = line.substring(0, colon);
                String hash = line.substring(colon + 1);
                try {
                    UserStore.checkName(name);
                } catch (IllegalArgumentException e) {
                    throw UserError.usage(where + ": " + e.getMessage() + "; rename the user in the file; nothing was imported");
                }
                try {
                    PasswordHasher.check(hash, true);
                } catch (IllegalArgumentException e) {
                    throw UserError.usage(where + ": user \"" + name + "\" has a hash Enclave does not accept (only bcrypt, apr1"
                            + " and argon2id); add them with 'enclave users add " + name + "'; nothing was imported");
                }
                entries.add(new String[] {name, hash});
            }
            edit(file, s -> {
                UserStore next = s;
                for (String[] e : entries) {
                    if (next.contains(e[0])) {
                        throw UserError.usage("user \"" + e[0] + "\" already exists in " + file
                                + "; remove it there or from " + htpasswd + "; nothing was imported");
                    }
                    next = next.withImported(e[0], e[1]);
                }
                return next;
            });
            System.out.println("imported " + entries.size() + " users into " + file
                    + "; each is stored as argon2id at its next login");
            return ExitCodes.OK;
        }
    }

    private static void checkName(String name) {
        try {
            UserStore.checkName(name);
        } catch (IllegalArgumentException e) {
            throw UserError.usage(e.getMessage());
        }
    }

    private static String requireUser(UserStore s, String name, Path file) {
        if (!s.contains(name)) {
            throw UserError.usage("no user \"" + name + "\" in " + file + "; 'enclave users list --users " + file + "' shows who is there");
        }
        return name;
    }

    private static void edit(Path file, UserStore.Change change) {
        try {
            UserStore.update(file, change);
        } catch (UserFileException e) {
            throw UserError.usage(e.getMessage());
        } catch (IOException e) {
            throw UserError.usage("cannot write " + file + ": " + e.getMessage() + "; check the directory exists and is writable");
        }
    }

    /** Reads a new password (prompt twice, or stdin), checks its length, and returns its hash. */
    private static String hashNewPassword(boolean fromStdin) {
        char[] password = fromStdin ? readStdin() : prompt();
        try {
            if (password.length < MIN_PASSWORD) {
                throw UserError.usage("password too short: at least " + MIN_PASSWORD + " characters (a passphrase of a few words works)");
            }
            if (password.length > MAX_PASSWORD) {
                throw UserError.usage("password longer than " + MAX_PASSWORD + " characters");
            }
            return new PasswordHasher().hash(password);
        } finally {
            Arrays.fill(password, '\0');
        }
    }

    private static char[] prompt() {
        Console console = System.console();
        if (console == null) {
            throw UserError.usage("no terminal to ask for the password on; pipe it in with --password-stdin");
        }
        char[] first = console.readPassword("New password: ");
        char[] second = console.readPassword("Repeat it: ");
        if (first == null || second == null || !Arrays.equals(first, second)) {
            throw UserError.usage("the two passwords differ; nothing was changed");
        }
        Arrays.fill(second, '\0');
        return first;
    }

    /** One line from standard input, without its line ending (at most MAX_PASSWORD + 2 bytes read). */
    private static char[] readStdin() {
        try {
            InputStream in = System.in;
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) >= 0 && b != '\n') {
                buf.write(b);
                if (buf.size() > MAX_PASSWORD * 4) {
                    throw UserError.usage("password longer than " + MAX_PASSWORD + " characters");
                }
            }
            byte[] bytes = buf.toByteArray();
            int n = bytes.length;
            if (n > 0 && bytes[n - 1] == '\r') {
                n--;
            }
            java.nio.CharBuffer chars;
            try {
                chars = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes, 0, n));
            } catch (java.nio.charset.CharacterCodingException e) {
                throw UserError.usage("the password on standard input is not valid UTF-8");
            } finally {
                Arrays.fill(bytes, (byte) 0);
            }
            char[] out = new char[chars.remaining()];
            chars.get(out);
            if (chars.hasArray()) {
                Arrays.fill(chars.array(), '\0');
            }
            return out;
        } catch (IOException e) {
            throw UserError.usage("cannot read the password from standard input: " + e.getMessage());
        }
    }
}
