package dev.enclave.lab;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

class LabReportTest {
    @TempDir
    Path dir;

    private static LabCheck check(String id, Expect enclave) {
        return new LabCheck(id, "try " + id, LabCheck.From.APP,
                Map.of("enclave", new Expectation(enclave, "because <" + id + "> & so")), lab -> Observation.failed("unused"));
    }

    private LabReport report() {
        LabCheck a = check("a.passes", Expect.FAIL);
        LabCheck b = check("b.differs", Expect.FAIL);
        LabCheck c = check("c.broken", Expect.WORKS);
        return new LabReport(LabDesign.ENCLAVE, List.of(
                new LabReport.Row(a, a.expectation(LabDesign.ENCLAVE), Expect.FAIL, "curl: (28) timed out", 2001),
                new LabReport.Row(b, b.expectation(LabDesign.ENCLAVE), Expect.WORKS, "HTTP 200 \"<html>\"", 12),
                new LabReport.Row(c, c.expectation(LabDesign.ENCLAVE), null, "the check could not run: boom", 1)), 2100);
    }

    @Test
    void aRowPassesOnlyWhenItsResultIsTheExpectedOne() {
        LabReport r = report();
        assertThat(r.rows()).extracting(LabReport.Row::passed).containsExactly(true, false, false);
        assertThat(r.failures()).isEqualTo(2);
        assertThat(r.allPassed()).isFalse();
    }

    @Test
    void theTableShowsExpectedResultEvidenceAndReason() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        report().print(new PrintStream(out, true, StandardCharsets.UTF_8));
        String table = out.toString(StandardCharsets.UTF_8);
        assertThat(table).contains("CHECK", "EXPECTED", "RESULT", "EVIDENCE")
                .contains("b.differs").contains("WORKS ✗").contains("ERROR ✗").contains("curl: (28) timed out")
                .contains("expected FAIL: because <a.passes> & so")
                .contains("2 of 3 checks NOT as expected");
    }

    @Test
    void jsonAndJunitCarryEveryRow() throws Exception {
        LabReport r = report();
        Path json = dir.resolve("out/lab.json");
        Path junit = dir.resolve("out/lab.xml");
        r.writeJson(json);
        r.writeJunit(junit);

        JsonNode doc = new ObjectMapper().readTree(json.toFile());
        assertThat(doc.path("design").asText()).isEqualTo("enclave");
        assertThat(doc.path("failures").asInt()).isEqualTo(2);
        assertThat(doc.path("rows")).hasSize(3);
        assertThat(doc.path("rows").get(1).path("result").asText()).isEqualTo("WORKS");
        assertThat(doc.path("rows").get(1).path("passed").asBoolean()).isFalse();
        assertThat(doc.path("rows").get(2).path("result").asText()).isEqualTo("ERROR");

        Document xml = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(junit.toFile());
        Element suite = xml.getDocumentElement();
        assertThat(suite.getAttribute("tests")).isEqualTo("3");
        assertThat(suite.getAttribute("failures")).isEqualTo("2");
        assertThat(xml.getElementsByTagName("testcase").getLength()).isEqualTo(3);
        assertThat(xml.getElementsByTagName("failure").getLength()).isEqualTo(2);
        Element failure = (Element) xml.getElementsByTagName("failure").item(0);
        assertThat(failure.getAttribute("message")).contains("HTTP 200 \"<html>\"").contains("because <b.differs> & so");
    }
}
