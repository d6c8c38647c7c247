package io.distillery.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code distill preflight} through the real CLI in local[2]: every check ok (exit 0), and a run
 * directory that cannot be written or a missing Kryo registrator each give exactly one problem line
 * saying what to set, exit status 2, and nothing left behind.
 */
class PreflightCommandTest {
    private static final List<String> CHECKS = List.of("spark", "scala", "dl4j", "kryo", "memory", "nd4j", "run-dir");

    @TempDir
    Path tmp;

    private static List<String> lines(TestRuns.Run r, String status) {
        return r.out().lines().filter(l -> l.startsWith(status + " ")).toList();
    }

    @Test
    void everyCheckIsOkInLocalMode() throws IOException {
        Path runDir = tmp.resolve("run");
        TestRuns.Run r = TestRuns.cli("preflight", "--config", TestRuns.config(tmp, runDir, 10, "").toString());
        assertEquals(0, r.status(), r.out() + r.err());
        List<String> ok = lines(r, "ok");
        for (String check : CHECKS) {
            assertTrue(ok.stream().anyMatch(l -> l.matches("ok +" + check + " .*")), "no ok line for " + check + " in:\n" + r.out());
        }
        assertEquals(CHECKS.size(), ok.size(), r.out());
        assertTrue(lines(r, "PROBLEM").isEmpty(), r.out());
        assertTrue(r.out().contains("loads and computes on the driver"), r.out());
        assertTrue(r.out().contains("written and read back by 2 task(s)"), r.out());
        // The probe cleans up after itself: the run directory did not exist before, so it does not now.
        assertFalse(Files.exists(runDir), "preflight left " + runDir + " behind");
    }

    @Test
    void aRunDirectoryThatCannotBeWrittenIsOneProblemLineAndExit2() throws IOException {
        Path file = Files.writeString(tmp.resolve("not-a-folder"), "x");
        Path runDir = file.resolve("run");
        TestRuns.Run r = TestRuns.cli("preflight", "--config", TestRuns.config(tmp, runDir, 10, "").toString());
        assertEquals(2, r.status(), r.out() + r.err());
        List<String> problems = lines(r, "PROBLEM");
        assertEquals(1, problems.size(), r.out());
        assertTrue(problems.get(0).matches("PROBLEM run-dir +" + java.util.regex.Pattern.quote(runDir.toString())
                + " cannot be created from the driver: .*; set run-dir to a folder the driver and every executor can write .*"), problems.get(0));
        assertEquals("x", Files.readString(file));
        assertFalse(r.err().contains("\tat "), "a stack trace was printed:\n" + r.err());
    }

    @Test
    void aMissingKryoRegistratorIsOneProblemLineAndExit2() {
        Path runDir = tmp.resolve("run");
        TestRuns.Run r = TestRuns.cli("preflight", "--config", TestRuns.config(tmp, runDir, 10, """
                distillery.spark.conf { "spark.kryo.registrator" = "" }
                """).toString());
        assertEquals(2, r.status(), r.out() + r.err());
        List<String> problems = lines(r, "PROBLEM");
        assertEquals(List.of("PROBLEM kryo      spark.kryo.registrator is not set: Kryo cannot serialize ND4J arrays (their data is off-heap) "
                + "without ND4J's registrator; set spark.kryo.registrator=org.nd4j.kryo.Nd4jRegistrator"), problems, r.out());
        assertFalse(Files.exists(runDir));
    }

    @Test
    void stageCommandsOfferNoPreflight() {
        TestRuns.Run r = TestRuns.cli("prep", "--help");
        assertEquals(0, r.status());
        assertTrue(r.out().contains("--no-preflight"), r.out());
        TestRuns.Run help = TestRuns.cli("preflight", "--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("Usage: distill preflight"), help.out());
    }
}
