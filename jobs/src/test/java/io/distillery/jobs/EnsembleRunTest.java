package io.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.runtime.Storage;
import io.distillery.table.Manifest;
import io.distillery.tensor.TensorEncoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An ensemble of three teachers through the real jobs (Spark local[2], 400 Fashion-MNIST images):
 * the shipped ResNet imported and two small CNNs trained in the run. One precompute job writes one
 * table with every member's logits and tap plus the ensemble's logits; a student distils from all of
 * them, from one by name, and from a subset of two; evaluate reports every teacher and the ensemble.
 */
class EnsembleRunTest {
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static TestRuns.Run pipeline;
    static TestRuns.Run one;
    static TestRuns.Run subset;
    static TestRuns.Run unknown;
    static TestRuns.Run sequential;

    @BeforeAll
    static void run() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, 400, """
                distillery.teacher { name = "trio" }
                distillery.teachers = [
                  { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip",
                    model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] } }
                  { name = "cnn-a", model { architecture = "cnn", widths = [8, 16, 32], blocks = [1, 1, 1] }, train { epochs = 4, seed = 1, learning-rate = 0.02 } }
                  { name = "cnn-b", model { architecture = "cnn", widths = [8, 16, 32], blocks = [1, 1, 1] }, train { epochs = 4, seed = 2, learning-rate = 0.02 } }
                ]
                distillery.distill { train { epochs = 3, learning-rate = 0.01 }, loss { hint-weight = 0 }, hint { student-layer = "", teacher-tap = "" } }
                """);
        pipeline = TestRuns.cli("pipeline", "--config", config.toString());
        one = TestRuns.cli("distill", "--config", config.toString(), "--set", "distill.teachers=[cnn-a]", "--set", "student.name=from-one");
        subset = TestRuns.cli("distill", "--config", config.toString(), "--set", "distill.teachers=[resnet, cnn-b]", "--set", "student.name=from-two");
        unknown = TestRuns.cli("distill", "--config", config.toString(), "--set", "distill.teachers=[cnn-z]", "--set", "student.name=nobody");
        sequential = TestRuns.cli("distill", "--config", config.toString(), "--set", "student.name=seq", "--set", "distill.loss.kd-weight=0",
                "--set", "distill.feed.weight=0.5", "--set", "distill.feed.student-layer=stage3", "--set", "distill.feed.teacher-tap=stage3",
                "--set", "distill.feed.generations=2");
    }

    private static Manifest read(String dir) {
        return Manifest.read(Storage.local(), runDir.resolve(dir).toString());
    }

    @Test
    @SuppressWarnings("unchecked")
    void oneTableHoldsEveryTeacherAndTheEnsemble() {
        assertEquals(0, pipeline.status(), pipeline.err());
        Manifest m = read("teacher-outputs/trio");
        List<Map<String, Object>> members = m.property("members");
        assertEquals(List.of("resnet", "cnn-a", "cnn-b"), members.stream().map(x -> x.get("name")).toList());
        for (Map<String, Object> member : members) {
            assertNotNull(member.get("teacher_hash"));
            double accuracy = ((Number) member.get("precomputed_accuracy")).doubleValue();
            assertTrue(accuracy > 0.3 && accuracy <= 1, member.toString());
        }
        for (String c : List.of("logits", "resnet__logits", "resnet__tap_stage3", "cnn_a__logits", "cnn_a__tap_stage3", "cnn_b__logits")) {
            m.column(c);
        }
        SparkSession spark = SparkSession.builder().master("local[1]").getOrCreate();
        long train = spark.read().parquet(runDir.resolve("examples").toString()).filter("split = 'train'").count();
        assertEquals(train, m.rows());

        // The ensemble column is the log of the mean of the members' softmax, decodable without our code's readers.
        Row row = spark.read().parquet(runDir.resolve("teacher-outputs/trio").toString()).first();
        float[] ensemble = TensorEncoding.FLOAT32.decode(row.getAs("logits"), 10);
        double[] mean = new double[10];
        for (String member : List.of("resnet__logits", "cnn_a__logits", "cnn_b__logits")) {
            float[] z = TensorEncoding.FLOAT32.decode(row.getAs(member), 10);
            double max = Double.NEGATIVE_INFINITY;
            double sum = 0;
            for (float v : z) {
                max = Math.max(max, v);
            }
            for (float v : z) {
                sum += Math.exp(v - max);
            }
            for (int k = 0; k < 10; k++) {
                mean[k] += Math.exp(z[k] - max) / sum / 3;
            }
        }
        for (int k = 0; k < 10; k++) {
            assertEquals(Math.log(mean[k]), ensemble[k], 1e-4, "class " + k);
        }
    }

    @Test
    void evaluateReportsEachTeacherAndTheEnsemble() throws Exception {
        assertEquals(0, pipeline.status(), pipeline.err());
        String report = Files.readString(runDir.resolve("reports/report.md"));
        for (String fragment : List.of("| ensemble | trio |", "| teacher | resnet |", "| teacher | cnn-a |", "| teacher | cnn-b |", "| student |")) {
            assertTrue(report.contains(fragment), fragment + " missing from\n" + report);
        }
    }

    @Test
    void aStudentLearnsFromTheEnsembleOneTeacherOrASubset() {
        assertEquals(0, pipeline.status(), pipeline.err());
        assertEquals(List.of("logits"), read("students/tiny-cnn").property("teacher_columns"));
        assertEquals(0, one.status(), one.err());
        assertEquals(List.of("cnn_a__logits"), read("students/from-one").property("teacher_columns"));
        assertEquals(0, subset.status(), subset.err());
        assertEquals(List.of("resnet__logits", "cnn_b__logits"), read("students/from-two").property("teacher_columns"));
        double accuracy = ((Number) read("students/from-two").property("validation_accuracy")).doubleValue();
        assertTrue(accuracy > 0.2, "student from two teachers (chance 0.1): validation accuracy " + accuracy);
    }

    @Test
    void sequentialFeedChainsGenerationsThroughPrecompute() {
        assertEquals(0, sequential.status(), sequential.err());
        Manifest first = read("students/seq-gen1");
        assertEquals(List.of("resnet__tap_stage3", "cnn_a__tap_stage3", "cnn_b__tap_stage3"), first.property("teacher_columns"));
        Manifest outputs = read("teacher-outputs/seq-gen1");
        assertEquals(first.contentHash(), outputs.property("teacher_hash"));
        Manifest last = read("students/seq");
        assertEquals("seq-gen1", last.property("teacher"));
        assertEquals("2 of 2", last.property("feed_generation"));
        assertEquals(List.of("tap_stage3"), last.property("teacher_columns"));
        assertTrue(last.properties().get("methods").toString().contains("ParallelFeed"), last.properties().toString());
    }

    @Test
    void anUnknownTeacherIsOneLine() {
        TestRuns.expectBadInput(unknown, "distill.teachers", "cnn-z", "[resnet, cnn-a, cnn-b]");
    }
}
