package io.distillery.jobs;

import io.distillery.data.ImageShape;
import io.distillery.jobs.cli.DistillCli;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ChannelPruning;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.ColumnSpec;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.tensor.AttentionMaps;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real precompute (Spark local[2]) of the shipped Fashion-MNIST teacher on 300 images storing a
 * raw tap, two attention maps and an InDistill-pruned tap: the manifest records each column's
 * shape, source layer and transform (and the kept channels), and the stored values are those
 * transforms of the teacher's own activations.
 */
class PrecomputeTapsTest {
    static final String TAPS = "[\"stage3\", \"stage3:attention\", \"stage2:attention\", \"stage1:prune-l1=16\"]";
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static TestRuns.Run badPrune;
    static TestRuns.Run precompute;

    @BeforeAll
    static void precompute() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, 150, """
                distillery.teacher { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip" }
                distillery.teacher.model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] }
                distillery.precompute.taps = %s
                """.formatted(TAPS));
        for (String stage : new String[]{"prep", "teacher"}) {
            TestRuns.Run r = TestRuns.cli(stage, "--config", config.toString());
            assertEquals(0, r.status(), stage + " failed:\n" + r.err());
        }
        badPrune = TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.taps=[stage3, \"stage1:prune-l1=33\"]");
        precompute = TestRuns.cli("precompute", "--config", config.toString());
    }

    private static Manifest outputs() {
        return Manifest.read(Storage.local(), runDir.resolve("teacher-outputs/resnet").toString());
    }

    @Test
    void manifestRecordsShapeLayerAndTransformOfEveryTap() {
        assertEquals(0, precompute.status(), precompute.err());
        Manifest m = outputs();
        assertEquals(List.of("stage3", "stage3:attention", "stage2:attention", "stage1:prune-l1=16"), m.property("taps"));

        ColumnSpec raw = m.column("tap_stage3");
        assertEquals(List.of(128, 7, 7), raw.shape());
        assertEquals("CHW", raw.layout());
        assertEquals("stage3", raw.tap());
        assertNull(raw.transform());

        ColumnSpec at3 = m.column("tap_stage3_attention");
        assertEquals(List.of(7, 7), at3.shape());
        assertEquals("HW", at3.layout());
        assertEquals("stage3", at3.tap());
        assertEquals("attention", at3.transform());
        assertEquals("float16-le", at3.encoding());
        assertEquals(List.of(14, 14), m.column("tap_stage2_attention").shape());

        ColumnSpec pruned = m.column("tap_stage1_prune_l1_16");
        assertEquals(List.of(16, 28, 28), pruned.shape());
        assertEquals("CHW", pruned.layout());
        assertEquals("stage1", pruned.tap());
        assertEquals("prune-l1=16", pruned.transform());
        ComputationGraph teacher = Models.read(Storage.local(), runDir.resolve("teachers/resnet/model.zip").toString(), false);
        ChannelPruning.Selection s = ChannelPruning.select(teacher, "stage1", 16);
        assertEquals("s1b1_b_conv", s.conv());
        assertEquals(s.keptList(), pruned.channels());
        assertTrue(pruned.description().contains("'s1b1_b_conv'") && pruned.description().contains("16 of 32 channels"), pruned.description());

        // What a method sees: the spec string finds the column, its width is the stored element count.
        TeacherOutputs t = new TeacherOutputs("resnet", m);
        assertEquals("tap_stage2_attention", t.tap("stage2:attention").column());
        assertEquals(14 * 14, t.tap("stage2:attention").width());
        assertEquals(16 * 28 * 28, t.tap("stage1:prune-l1=16").width());
        assertEquals(128 * 7 * 7, t.tap("stage3").width());
        var missing = assertThrows(io.distillery.errors.BadInputException.class, () -> t.tap("stage1:attention"));
        assertTrue(missing.getMessage().contains("no tap 'stage1:attention'; stored taps: [stage3, stage3:attention, stage2:attention, "
                + "stage1:prune-l1=16]"), missing.getMessage());
    }

    /** Decoding a stored row by its manifest gives the transforms of what the teacher computes for that image. */
    @Test
    void storedValuesAreTheTransformsOfTheTeachersActivations() {
        assertEquals(0, precompute.status(), precompute.err());
        Manifest m = outputs();
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        try {
            Row out = spark.read().parquet(runDir.resolve("teacher-outputs/resnet").toString()).orderBy("id").first();
            Row ex = spark.read().parquet(runDir.resolve("examples").toString()).filter("id = " + out.getLong(0)).first();
            ImageShape shape = new ImageShape(28, 28, 1);
            float[] pixels = new float[shape.pixelCount()];
            ExamplesTable.toChw(ex.getAs("image"), shape, pixels, 0);
            ComputationGraph teacher = Models.read(Storage.local(), runDir.resolve("teachers/resnet/model.zip").toString(), false);
            Map<String, INDArray> acts = teacher.feedForward(Nd4j.create(pixels, new long[]{1, 1, 28, 28}, 'c'), false);

            for (String layer : List.of("stage3", "stage2")) {
                String column = "tap_" + layer + "_attention";
                float[] stored = TensorEncoding.FLOAT16.decode(out.getAs(column), m.column(column).elementCount());
                float[] expected = AttentionMaps.normalized(acts.get(layer)).dup('c').data().asFloat();
                assertClose(expected, stored, column);
                double sumSq = 0;
                for (float v : stored) {
                    sumSq += v * v;
                }
                assertEquals(1.0, sumSq, 2e-3, column + " has unit L2 norm");
            }

            List<Integer> channels = m.column("tap_stage1_prune_l1_16").channels();
            float[] stored = TensorEncoding.FLOAT16.decode(out.getAs("tap_stage1_prune_l1_16"), 16 * 28 * 28);
            float[] stage1 = acts.get("stage1").dup('c').data().asFloat(); // [32, 28, 28]
            float[] expected = new float[16 * 784];
            for (int i = 0; i < 16; i++) {
                System.arraycopy(stage1, channels.get(i) * 784, expected, i * 784, 784);
            }
            assertClose(expected, stored, "tap_stage1_prune_l1_16");
        } finally {
            spark.stop();
        }
    }

    private static void assertClose(float[] expected, float[] stored, String what) {
        assertEquals(expected.length, stored.length, what);
        for (int i = 0; i < stored.length; i++) {
            assertEquals(expected[i], stored[i], Math.abs(expected[i]) * 0x1p-11 + 1e-4, what + " element " + i);
        }
    }

    @Test
    void pruningMoreChannelsThanTheTapHasIsOneLineNamingTheTapAndWritesNothing() {
        assertEquals(DistillCli.BAD_INPUT, badPrune.status(), badPrune.err());
        String line = badPrune.err().lines().filter(l -> l.contains(": error: ")).findFirst().orElse("");
        assertTrue(line.contains("'stage1:prune-l1=33'") && line.contains("k must be in 1..32"), badPrune.err());
        assertFalse(badPrune.err().contains("\tat "), badPrune.err());
        assertFalse(Files.exists(runDir.resolve("teacher-outputs/resnet.partial")));
    }

    @Test
    void badTapSpecsAreRefusedWhenTheConfigIsRead() {
        TestRuns.Run r = TestRuns.cli("config", "--config", config.toString(), "--set", "precompute.taps=[\"stage2:attn\"]");
        assertEquals(DistillCli.BAD_INPUT, r.status(), r.err());
        String line = r.err().lines().filter(l -> l.contains(": error: ")).findFirst().orElse("");
        assertTrue(line.contains("config key 'precompute.taps': 'stage2:attn' is not a tap spec (unknown transform 'attn'); valid forms:"),
                r.err());
    }
}
