package io.distillery.jobs;

import io.distillery.data.Augmentation;
import io.distillery.data.ImageShape;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * precompute.views through the real jobs (Spark local[2]) with the shipped teacher: K = 2 augmented
 * views per training image, their parameters stored in the row; replaying a row's parameters on
 * its image gives the image the teacher saw (its stored logits are the teacher's on it); a KD
 * student trains on the views; a labels-only baseline trains with fresh augmentation; asking a
 * student for augmentation on a table of plain images is one line.
 */
class StoredViewsRunTest {
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static TestRuns.Run augmentOnPlain;
    static TestRuns.Run precompute;
    static TestRuns.Run distill;
    static TestRuns.Run baseline;

    @BeforeAll
    static void run() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, 400, """
                distillery.teacher { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip" }
                distillery.teacher.model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] }
                distillery.precompute { taps = [], views = 2 }
                distillery.distill { train { epochs = 3, augment = true }, loss { hint-weight = 0.0 } }
                """);
        for (String stage : new String[]{"prep", "teacher"}) {
            assertEquals(0, TestRuns.cli(stage, "--config", config.toString()).status(), stage);
        }
        assertEquals(0, TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.views=0").status());
        augmentOnPlain = TestRuns.cli("distill", "--config", config.toString());
        precompute = TestRuns.cli("precompute", "--config", config.toString(), "--force");
        distill = TestRuns.cli("distill", "--config", config.toString());
        baseline = TestRuns.cli("distill", "--baseline", "--config", config.toString());
    }

    @Test
    void augmentationOnATableOfPlainImagesIsOneLine() {
        TestRuns.expectBadInput(augmentOnPlain, "'distill.train.augment' is true", "hold the plain images only", "precompute.views");
    }

    @Test
    void everyTrainingImageHasKViewsWhoseStoredParametersReplayTheImageTheTeacherSaw() {
        assertEquals(0, precompute.status(), precompute.err());
        String table = runDir.resolve("teacher-outputs/resnet").toString();
        Manifest m = Manifest.read(Storage.local(), table);
        Manifest examples = Manifest.read(Storage.local(), runDir.resolve("examples").toString());
        long train = ((Map<String, Number>) examples.property("split_counts")).get("train").longValue();
        assertEquals(2 * train, m.rows());
        assertEquals(2, ((Number) m.property("views")).intValue());
        assertTrue(m.column(Augmentation.DX).description().contains("out(y, x) = in(y + aug_dy, x + aug_dx)"));
        ComputationGraph teacher = Models.read(Storage.local(), runDir.resolve("teachers/resnet/model.zip").toString(), false);
        ImageShape shape = new ImageShape(28, 28, 1);
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        try {
            List<Row> outputs = spark.read().parquet(table).collectAsList();
            Map<Long, byte[]> images = new HashMap<>();
            spark.read().parquet(runDir.resolve("examples").toString()).filter("split = 'train'").collectAsList()
                    .forEach(r -> images.put(r.getAs("id"), r.getAs("image")));
            Map<Long, Integer> viewsPerId = new HashMap<>();
            int shifted = 0;
            int flipped = 0;
            for (Row r : outputs) {
                long id = r.getAs("id");
                int view = r.getAs("view");
                assertTrue(view == 1 || view == 2, "view " + view);
                viewsPerId.merge(id, 1, Integer::sum);
                int dx = r.getAs(Augmentation.DX);
                int dy = r.getAs(Augmentation.DY);
                assertTrue(Math.abs(dx) <= 2 && Math.abs(dy) <= 2);
                shifted += dx != 0 || dy != 0 ? 1 : 0;
                flipped += r.<Boolean>getAs(Augmentation.FLIP) ? 1 : 0;
            }
            assertEquals(train, viewsPerId.size());
            assertTrue(viewsPerId.values().stream().allMatch(n -> n == 2));
            assertTrue(shifted > outputs.size() / 2 && flipped > outputs.size() / 5 && flipped < outputs.size() * 4 / 5,
                    "shifted " + shifted + ", flipped " + flipped + " of " + outputs.size());
            for (Row r : outputs.subList(0, 12)) {
                byte[] seen = Augmentation.apply(images.get(r.<Long>getAs("id")), shape, r.getAs(Augmentation.DX), r.getAs(Augmentation.DY),
                        r.getAs(Augmentation.FLIP));
                float[] x = new float[shape.pixelCount()];
                ExamplesTable.toChw(seen, shape, x, 0);
                float[] expected = teacher.feedForward(Nd4j.create(x, new long[]{1, 1, 28, 28}, 'c'), false).get("logits").dup('c').data().asFloat();
                float[] stored = TensorEncoding.FLOAT32.decode(r.getAs("logits"), 10);
                for (int c = 0; c < 10; c++) {
                    assertEquals(expected[c], stored[c], 1e-4, "logit " + c + " of id " + r.getAs("id") + " view " + r.getAs("view"));
                }
            }
        } finally {
            spark.stop();
        }
    }

    @Test
    void aKdStudentTrainsOnTheViewsAndABaselineOnFreshAugmentation() {
        assertEquals(0, distill.status(), distill.err());
        assertTrue(distill.err().contains("2 stored views per example"), "no views line in the distill log");
        assertEquals(0, baseline.status(), baseline.err());
        assertTrue(baseline.err().contains("augmented afresh each epoch"), "no augmentation line in the baseline log");
        for (String dir : List.of("students/tiny-cnn", "students/tiny-cnn-baseline")) {
            Manifest model = Manifest.read(Storage.local(), runDir.resolve(dir).toString());
            double accuracy = ((Number) model.property("validation_accuracy")).doubleValue();
            assertTrue(accuracy > 0.25, dir + " validation accuracy " + accuracy + " (chance 0.1)");
        }
    }
}
