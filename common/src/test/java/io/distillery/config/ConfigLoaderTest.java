package io.distillery.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.errors.BadInputException;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Defaults, file and --set layering, unknown-key rejection and value checks of the pipeline config. */
class ConfigLoaderTest {
    @TempDir
    Path dir;

    private File file(String hocon) throws IOException {
        Path p = dir.resolve("pipeline.conf");
        Files.writeString(p, hocon);
        return p.toFile();
    }

    private static PipelineConfig sets(String... sets) {
        return ConfigLoader.load(null, null, List.of(sets));
    }

    /** Loads with the given --set values and returns the one-line message of the expected failure. */
    private static String rejected(String... sets) {
        String message = assertThrows(BadInputException.class, () -> sets(sets)).getMessage();
        assertFalse(message.contains("\n"), () -> "not one line: " + message);
        return message;
    }

    @Test
    void defaultsLoad() {
        PipelineConfig c = ConfigLoader.load(null, null, null);
        assertEquals("runs/default", c.runDir());
        assertEquals("idx", c.data().format());
        assertEquals(0.1, c.data().validationFraction());
        assertEquals(List.of("stage3"), c.precompute().taps());
        // teacher.train = ${train-defaults} { epochs = 10 }: the override and the inherited values
        assertEquals(10, c.teacher().train().epochs());
        assertEquals(128, c.teacher().train().batchSize());
        assertEquals(5, c.distill().train().epochs());
        assertEquals(List.of(16, 32, 64), c.student().model().widths());
        assertTrue(c.spark().conf().isEmpty());
    }

    @Test
    void fileOverridesDefaults() throws IOException {
        PipelineConfig c = ConfigLoader.load(file("""
                distillery {
                  run-dir = "runs/x"
                  data { limit = 100, format = "cifar10" }
                  distill.train.epochs = 3
                }
                """), null, List.of());
        assertEquals("runs/x", c.runDir());
        assertEquals(100, c.data().limit());
        assertEquals("cifar10", c.data().format());
        assertEquals(3, c.distill().train().epochs());
        assertEquals(128, c.distill().train().batchSize(), "untouched keys keep their defaults");
    }

    @Test
    void setOverridesFileWithOrWithoutPrefix() throws IOException {
        File f = file("distillery { distill.train.epochs = 3, data.limit = 100 }");
        PipelineConfig c = ConfigLoader.load(f, null, List.of("distill.train.epochs=7", "distillery.data.limit=5"));
        assertEquals(7, c.distill().train().epochs());
        assertEquals(5, c.data().limit());
    }

    @Test
    void setParsesListsNumbersAndStrings() {
        PipelineConfig c = sets("precompute.taps=[a,b]", "data.validation-fraction=0.25", "distill.loss.temperature=2",
                "data.name=mnist", "teacher.import=\"\"");
        assertEquals(List.of("a", "b"), c.precompute().taps());
        assertEquals(0.25, c.data().validationFraction());
        assertEquals(2.0, c.distill().temperature());
        assertEquals("mnist", c.data().name());
        assertFalse(c.teacher().imported());
    }

    /** Unquoted, HOCON would read '//' as the start of a comment and keep only "hdfs:". */
    @Test
    void setTakesUrisAndPathsVerbatim() {
        assertEquals("hdfs:///runs/nightly", sets("run-dir=hdfs:///runs/nightly").runDir());
        assertEquals("s3a://bucket/runs/a b", sets("run-dir=s3a://bucket/runs/a b").runDir());
        assertEquals("/data/fashion-mnist", sets("data.path=/data/fashion-mnist").data().path());
    }

    @Test
    void laterSetWins() {
        assertEquals(9, sets("data.limit=4", "data.limit=9").data().limit());
    }

    @Test
    void unknownKeyInFileNamesItAndTheNearestKey() throws IOException {
        File f = file("distillery { distill { train { epoch = 3 } } }");
        String message = assertThrows(BadInputException.class, () -> ConfigLoader.load(f, null, List.of())).getMessage();
        assertTrue(message.contains("'distill.train.epoch'"), message);
        assertTrue(message.contains("'distill.train.epochs'"), message);
    }

    @Test
    void unknownKeyInSetNamesItAndTheNearestKey() {
        String message = rejected("data.valdation-fraction=0.2");
        assertTrue(message.contains("'data.valdation-fraction'"), message);
        assertTrue(message.contains("'data.validation-fraction'"), message);
    }

    @Test
    void malformedSetIsRejected() {
        assertTrue(rejected("data.limit").contains("key=value"));
    }

    @Test
    void sparkConfKeysAreFreeForm() throws IOException {
        File f = file("""
                distillery.spark.conf {
                  "spark.executor.memory" = 4g
                  "spark.sql.shuffle.partitions" = 8
                }
                """);
        PipelineConfig c = ConfigLoader.load(f, null, List.of("spark.conf.\"spark.driver.memory\"=2g"));
        assertEquals(Map.of("spark.executor.memory", "4g", "spark.sql.shuffle.partitions", "8", "spark.driver.memory", "2g"),
                c.spark().conf());
    }

    @Test
    void substitutionInUserFileResolves() throws IOException {
        File f = file("distillery { distill.train = ${distillery.train-defaults} { epochs = 2 } }");
        PipelineConfig c = ConfigLoader.load(f, null, List.of());
        assertEquals(2, c.distill().train().epochs());
        assertEquals(0.002, c.distill().train().learningRate(), "the rest comes from train-defaults");
    }

    @Test
    void trainDefaultsReachEveryStage() {
        // distillery-reference.conf: "Training settings shared by the teacher, the student and the baseline".
        PipelineConfig c = sets("train-defaults.batch-size=64");
        assertEquals(64, c.teacher().train().batchSize());
        assertEquals(64, c.distill().train().batchSize());
        assertEquals(10, c.teacher().train().epochs(), "the teacher's own override still applies");
    }

    @Test
    void formatNotInListIsRejected() {
        String message = rejected("data.format=png");
        assertTrue(message.contains("data.format") && message.contains("png") && message.contains("cifar10"), message);
    }

    @Test
    void negativeFractionIsRejected() {
        String message = rejected("data.validation-fraction=-0.1");
        assertTrue(message.contains("data.validation-fraction") && message.contains("-0.1"), message);
    }

    @Test
    void unknownLrScheduleIsRejected() {
        String message = rejected("distill.train.lr-schedule=cosine");
        assertTrue(message.contains("distill.train.lr-schedule") && message.contains("cosine"), message);
    }

    @Test
    void gradientSharingNeedsAConstantRate() {
        String message = rejected("distill.train.mode=gradient-sharing", "distill.train.lr-schedule=linear");
        assertTrue(message.contains("distill.train.lr-schedule") && message.contains("gradient-sharing"), message);
        String unknown = rejected("teacher.train.mode=all-reduce");
        assertTrue(unknown.contains("teacher.train.mode") && unknown.contains("gradient-sharing"), unknown);
    }

    @Test
    void widthsAndBlocksOfDifferentLengthAreRejected() {
        String message = rejected("student.model.widths=[8,16]");
        assertTrue(message.contains("student.model.widths") && message.contains("student.model.blocks"), message);
        assertTrue(message.contains("[8, 16]") && message.contains("[1, 1, 2]"), message);
    }

    @Test
    void hintWeightWithoutLayersIsRejected() {
        String message = rejected("distill.loss.hint-weight=0.5");
        assertTrue(message.contains("distill.loss.hint-weight") && message.contains("distill.hint.student-layer"), message);
        // with both layers named the same weight is accepted
        assertTrue(sets("distill.loss.hint-weight=0.5", "distill.hint.student-layer=stage3", "distill.hint.teacher-tap=stage3")
                .distill().usesHint());
    }

    @Test
    void allLossWeightsZeroIsRejected() {
        String message = rejected("distill.loss.ce-weight=0", "distill.loss.kd-weight=0");
        assertTrue(message.contains("distill.loss") && message.contains("zero"), message);
    }

    @Test
    void wrongTypeIsRejectedNamingTheKey() {
        String message = rejected("data.limit=many");
        assertTrue(message.contains("limit"), message);
    }

    @Test
    void missingFileNamesThePath() {
        File missing = dir.resolve("nope.conf").toFile();
        String message = assertThrows(BadInputException.class, () -> ConfigLoader.load(missing, null, List.of())).getMessage();
        assertTrue(message.contains(missing.getPath()), message);
    }
}
