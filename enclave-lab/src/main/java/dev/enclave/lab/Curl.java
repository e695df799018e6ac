package dev.enclave.lab;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * curl as the checks use it: one attempt with short timeouts, the status code written after the
 * body, and the outcome as one phrase of evidence ("HTTP 403", "curl: (28) Connection timed out
 * after 2001 milliseconds").
 */
final class Curl {
    static final int CONNECT_SECONDS = 2;
    static final int MAX_SECONDS = 6;
    private static final String MARK = "\n@@status ";

    /** What one curl did: status 0 when no HTTP answer came. */
    record Answer(int status, String body, String error) {
        boolean answered() {
            return status > 0;
        }

        /** "HTTP 200: first line of body" or the curl error. */
        String phrase() {
            if (!answered()) {
                return error;
            }
            String first = body.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst().orElse("");
            if (first.length() > 90) {
                first = first.substring(0, 90) + "…";
            }
            return "HTTP " + status + (first.isEmpty() ? "" : " \"" + first + "\"");
        }
    }

    private Curl() {
    }

    static List<String> command(String... args) {
        List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--connect-timeout", Integer.toString(CONNECT_SECONDS),
                "-m", Integer.toString(MAX_SECONDS), "-w", MARK + "%{http_code}\n"));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** curl ARGS as the app's user in enclave-app, with the app's environment (proxy variables included). */
    static Answer asApp(LabContext lab, String... args) {
        return parse(LabShell.asApp(lab, MAX_SECONDS + 4, command(args)));
    }

    /** curl ARGS as root in {@code netns}, with no proxy variables. */
    static Answer in(String netns, String... args) {
        return parse(LabShell.asRoot(netns, Map.of("PATH", "/usr/bin:/bin", "LANG", "C.UTF-8"), MAX_SECONDS + 4, command(args)));
    }

    static Answer parse(LabShell.Run run) {
        String out = run.output();
        int at = out.lastIndexOf(MARK);
        int status = 0;
        String body = out;
        if (at >= 0) {
            String code = out.substring(at + MARK.length()).strip().lines().findFirst().orElse("0");
            try {
                status = Integer.parseInt(code);
            } catch (NumberFormatException e) {
                status = 0;
            }
            body = out.substring(0, at);
        }
        String error = body.lines().filter(l -> l.startsWith("curl: ")).reduce((a, b) -> b)
                .orElse(run.exit() == -1 ? "no answer (killed at the deadline)" : "exit " + run.exit());
        return new Answer(status, status > 0 ? body : "", error);
    }
}
