package io.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.data.ImageShape;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ModelZoo;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.ColumnSpec;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.tensor.TopKEncoding;
import io.distillery.train.Checkpoints;
import io.distillery.train.EpochMetrics;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code precompute.logits-encoding = "topk:3"} through the real jobs (Spark local[2]) on 600
 * Fashion-MNIST images with the shipped teacher: the manifest names the encoding and k, a row decodes
 * by hand (as README documents) to the teacher's own three largest logits, and a student distils from
 * them (KD on the renormalised top 3, CE on labels) well above chance. A K above the class count and
 * a K below 1 are one-line errors naming the key.
 */
class TopKLogitsRunTest {
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static TestRuns.Run tooLarge;
    static TestRuns.Run precompute;
    static TestRuns.Run distill;

    @BeforeAll
    static void run() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, 300, """
                distillery.teacher { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip" }
                distillery.teacher.model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] }
                distillery.precompute { taps = [], logits-encoding = "topk:3" }
                distillery.distill.train { epochs = 5, learning-rate = 0.01 }
                distillery.distill.loss { hint-weight = 0 }
                distillery.distill.hint { student-layer = "", teacher-tap = "" }
                """);
        for (String stage : new String[]{"prep", "teacher"}) {
            TestRuns.Run r = TestRuns.cli(stage, "--config", config.toString());
            assertEquals(0, r.status(), stage + " failed:\n" + r.err());
        }
        tooLarge = TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.logits-encoding=topk:11");
        precompute = TestRuns.cli("precompute", "--config", config.toString());
        distill = TestRuns.cli("distill", "--config", config.toString());
    }

    private static Manifest outputs() {
        return Manifest.read(Storage.local(), runDir.resolve("teacher-outputs/resnet").toString());
    }

    @Test
    void manifestNamesTheEncodingTheDenseShapeAndK() {
        assertEquals(0, precompute.status(), precompute.err());
        Manifest m = outputs();
        ColumnSpec logits = m.column("logits");
        assertEquals("topk-float32-int32-le", logits.encoding());
        assertEquals(List.of(10), logits.shape(), "the dense shape: classes");
        assertEquals(3, ((Number) m.property(TeacherOutputs.LOGITS_TOP_K)).intValue());
        assertTrue(logits.description().contains("only the 3 largest of 10"), logits.description());
        assertEquals(new TopKEncoding(3), new TeacherOutputs("resnet", m).logits().encoding());
        assertEquals(10, new TeacherOutputs("resnet", m).logits().width());
    }

    /** README's decode, by hand: 3 float32 then 3 int32, little-endian: the teacher's three largest logits, descending. */
    @Test
    void aRowDecodesByHandToTheTeachersTopThree() {
        assertEquals(0, precompute.status(), precompute.err());
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        try {
            List<Row> rows = spark.read().parquet(runDir.resolve("teacher-outputs/resnet").toString()).orderBy("id").limit(3).collectAsList();
            ComputationGraph teacher = Models.read(Storage.local(), runDir.resolve("teachers/resnet/model.zip").toString(), false);
            ImageShape shape = new ImageShape(28, 28, 1);
            for (Row out : rows) {
                byte[] b = out.getAs("logits");
                assertEquals(24, b.length);
                ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                float[] values = {le.getFloat(), le.getFloat(), le.getFloat()};
                int[] classes = {le.getInt(), le.getInt(), le.getInt()};

                Row ex = spark.read().parquet(runDir.resolve("examples").toString()).filter("id = " + out.getLong(0)).first();
                float[] pixels = new float[shape.pixelCount()];
                ExamplesTable.toChw(ex.getAs("image"), shape, pixels, 0);
                float[] own = teacher.feedForward(Nd4j.create(pixels, new long[]{1, 1, 28, 28}, 'c'), false)
                        .get(ModelZoo.LOGITS).dup('c').data().asFloat();
                int[] top = IntStream.range(0, 10).boxed().sorted(Comparator.comparingDouble(c -> -own[c])).limit(3)
                        .mapToInt(Integer::intValue).toArray();
                assertArrayEquals(top, classes, "id " + out.getLong(0) + ": stored " + Arrays.toString(classes) + ", teacher " + Arrays.toString(own));
                for (int j = 0; j < 3; j++) {
                    assertEquals(own[top[j]], values[j], 1e-4 * Math.max(1, Math.abs(own[top[j]])), "value " + j);
                }
                assertTrue(values[0] >= values[1] && values[1] >= values[2], "descending: " + Arrays.toString(values));
            }
        } finally {
            spark.stop();
        }
    }

    @Test
    void aStudentDistilsFromTopThreeAboveChance() {
        assertEquals(0, distill.status(), distill.err());
        Manifest student = Manifest.read(Storage.local(), runDir.resolve("students/tiny-cnn").toString());
        assertEquals(List.of("logits"), student.property("teacher_columns"));
        double accuracy = ((Number) student.property("validation_accuracy")).doubleValue();
        // 48 validation images after 5 short epochs on 252: far from converged (0.33 after 4 here), but clearly learning.
        assertTrue(accuracy > 0.2, "validation accuracy " + accuracy + " (chance: 0.1)");
        List<EpochMetrics> m = Checkpoints.readMetrics(Storage.local(), runDir.resolve("students/tiny-cnn").toString());
        assertEquals(5, m.size());
        for (EpochMetrics e : m) {
            double kd = e.loss().get("kd");
            assertTrue(Double.isFinite(kd) && kd > 0, "kd loss term (masked, from the probe) " + kd + " in " + e);
        }
        assertTrue(m.get(m.size() - 1).trainScore() < m.get(0).trainScore(), "the training score did not fall: " + m);
    }

    @Test
    void kAboveTheClassCountIsOneLineNamingKeyAndClassesAndWritesNothing() {
        TestRuns.expectBadInput(tooLarge, "config key 'precompute.logits-encoding'", "'topk:11'", "has 10 classes", "1..10");
        assertFalse(Files.exists(runDir.resolve("teacher-outputs/resnet.partial")));
    }

    @Test
    void kBelowOneIsRefusedWhenTheConfigIsRead() {
        TestRuns.Run r = TestRuns.cli("config", "--config", config.toString(), "--set", "precompute.logits-encoding=topk:0");
        TestRuns.expectBadInput(r, "config key 'precompute.logits-encoding'", "K >= 1");
    }
}
