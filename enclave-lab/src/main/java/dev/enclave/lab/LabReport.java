package dev.enclave.lab;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The verification matrix's outcome: a table for people, JSON and JUnit XML for machines. */
public record LabReport(LabDesign design, List<Row> rows, long millis) {
    /**
     * One check's outcome. {@code result} is null when the probe could not run (the row then fails).
     */
    public record Row(LabCheck check, Expectation expected, Expect result, String evidence, long millis) {
        public boolean passed() {
            return result == expected.result();
        }
    }

    public LabReport {
        rows = List.copyOf(rows);
    }

    public boolean allPassed() {
        return rows.stream().allMatch(Row::passed);
    }

    public long failures() {
        return rows.stream().filter(r -> !r.passed()).count();
    }

    /** The table: check · expected (and why) · result · evidence, then the totals. */
    public void print(PrintStream out) {
        int idWidth = Math.max(5, rows.stream().mapToInt(r -> r.check().id().length()).max().orElse(5));
        out.println("enclave lab verify: design " + design.name() + " — " + design.summary());
        out.println();
        out.printf("%-" + idWidth + "s  %-8s %-8s %s%n", "CHECK", "EXPECTED", "RESULT", "EVIDENCE");
        for (Row r : rows) {
            out.printf("%-" + idWidth + "s  %-8s %-8s %s%n", r.check().id(), r.expected().result(),
                    (r.result() == null ? "ERROR" : r.result().name()) + (r.passed() ? "" : " ✗"), r.evidence());
            out.printf("%-" + idWidth + "s    %s (%s) — expected %s: %s%n", "", r.check().description(), "from " + r.check().from().label(),
                    r.expected().result(), r.expected().reason());
        }
        out.println();
        out.println(failures() == 0
                ? "enclave lab verify: all " + rows.size() + " checks as expected (" + millis + " ms)"
                : "enclave lab verify: " + failures() + " of " + rows.size() + " checks NOT as expected (" + millis + " ms)");
    }

    public void writeJson(Path file) throws IOException {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("design", design.name());
        doc.put("summary", design.summary());
        doc.put("checks", rows.size());
        doc.put("failures", failures());
        doc.put("millis", millis);
        List<Map<String, Object>> list = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", r.check().id());
            m.put("description", r.check().description());
            m.put("from", r.check().from().label());
            m.put("expected", r.expected().result().name());
            m.put("reason", r.expected().reason());
            m.put("result", r.result() == null ? "ERROR" : r.result().name());
            m.put("passed", r.passed());
            m.put("evidence", r.evidence());
            m.put("millis", r.millis());
            list.add(m);
        }
        doc.put("rows", list);
        write(file, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(doc) + "\n");
    }

    public void writeJunit(Path file) throws IOException {
        StringBuilder x = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.append("<testsuite name=\"enclave-lab.").append(xml(design.name())).append("\" tests=\"").append(rows.size())
                .append("\" failures=\"").append(failures()).append("\" errors=\"0\" skipped=\"0\" time=\"").append(seconds(millis)).append("\">\n");
        for (Row r : rows) {
            x.append("  <testcase classname=\"enclave.lab.").append(xml(design.name())).append("\" name=\"").append(xml(r.check().id()))
                    .append("\" time=\"").append(seconds(r.millis())).append("\">\n");
            String line = r.check().description() + ": expected " + r.expected().result() + " (" + r.expected().reason() + "), got "
                    + (r.result() == null ? "ERROR" : r.result()) + ": " + r.evidence();
            if (!r.passed()) {
                x.append("    <failure message=\"").append(xml(line)).append("\"/>\n");
            }
            x.append("    <system-out>").append(xml(line)).append("</system-out>\n");
            x.append("  </testcase>\n");
        }
        x.append("</testsuite>\n");
        write(file, x.toString());
    }

    private static void write(Path file, String text) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, text, StandardCharsets.UTF_8);
    }

    private static String seconds(long millis) {
        return String.format(java.util.Locale.ROOT, "%.3f", millis / 1000.0);
    }

    static String xml(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&apos;");
                default -> {
                    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
                        b.append(' '); // not allowed in XML 1.0
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }
}
