package io.distillery.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import io.distillery.data.ImageShape;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole pipeline in local[2] on 2,000 real Fashion-MNIST images (1,000 from each source file):
 * every table and sidecar exists and agrees with its manifest, stored teacher outputs equal what
 * the teacher computes, the student is far above chance, and a second run skips every stage.
 */
class PipelineIntegrationTest {
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static TestRuns.Run first;

    @BeforeAll
    static void runPipeline() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, 1000, "distillery.evaluate.onnx = true");
        first = TestRuns.cli("pipeline", "--config", config.toString());
    }

    @Test
    void pipelineSucceedsAndWritesEveryArtifact() throws java.io.IOException {
        assertEquals(0, first.status(), first.err());
        for (String file : List.of("examples/_manifest.json", "teachers/tiny-resnet/model.zip", "teachers/tiny-resnet/_manifest.json",
                "teachers/tiny-resnet/metrics.jsonl", "teacher-outputs/tiny-resnet/_manifest.json", "students/tiny-cnn/model.zip",
                "students/tiny-cnn/_manifest.json", "students/tiny-cnn/metrics.jsonl", "students/tiny-cnn-baseline/model.zip",
                "students/tiny-cnn-baseline/_manifest.json", "reports/report.json", "reports/report.md",
                "reports/validation-accuracy.png", "reports/train-score.png", "reports/student-loss-terms.png")) {
            assertTrue(Files.isRegularFile(runDir.resolve(file)), "missing " + file);
        }
        try (var listing = Files.list(runDir)) {
            assertTrue(listing.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "a staging directory was left behind");
        }
    }

    @Test
    void studentIsFarAboveChanceAndSmallerThanTeacher() {
        JsonNode report = Json.tree(read("reports/report.json"));
        Map<String, JsonNode> byRole = new java.util.HashMap<>();
        report.get("models").forEach(m -> byRole.put(m.get("role").asText(), m));
        double student = byRole.get("student").get("test_accuracy").asDouble();
        double baseline = byRole.get("baseline").get("test_accuracy").asDouble();
        assertTrue(student > 0.5, "student test accuracy " + student + " is not far above chance (0.1)");
        assertTrue(baseline > 0.3, "baseline test accuracy " + baseline);
        assertEquals(1000, byRole.get("student").get("test_images").asLong());
        assertTrue(byRole.get("student").get("parameters").asLong() < byRole.get("teacher").get("parameters").asLong());
        assertEquals(5, byRole.get("student").get("epochs").asInt());
        assertTrue(read("reports/report.md").contains("| student | tiny-cnn |"));
    }

    /** evaluate.onnx: every DL4J model's ONNX export, run in ONNX Runtime on the executors, gets the same test images right. */
    @Test
    void onnxExportsReproduceDl4jTestAccuracyExactly() {
        JsonNode report = Json.tree(read("reports/report.json"));
        Map<String, JsonNode> byRole = new java.util.HashMap<>();
        report.get("models").forEach(m -> byRole.put(m.get("role").asText(), m));
        for (String role : List.of("teacher", "student", "baseline")) {
            JsonNode onnx = byRole.get(role + " (ONNX Runtime)");
            assertTrue(onnx != null, "no ONNX Runtime row for " + role + " in " + byRole.keySet());
            assertEquals(byRole.get(role).get("test_accuracy").asDouble(), onnx.get("test_accuracy").asDouble(), 0.0, role);
            assertEquals(1000, onnx.get("test_images").asLong());
            assertTrue(onnx.get("images_per_second").get("16").asDouble() > 0, role);
        }
        JsonNode diff = report.get("comparison").get("onnx_minus_dl4j_correct_test_images");
        assertEquals(3, diff.size(), diff.toString());
        diff.forEach(d -> assertEquals(0, d.asLong(), diff.toString()));
        assertTrue(read("reports/report.md").contains("| student (ONNX Runtime) | tiny-cnn |"));
        assertTrue(read("reports/report.md").contains("ONNX exports in ONNX Runtime against DL4J: teacher tiny-resnet: same accuracy;"));
    }

    @Test
    void tablesMatchTheirManifests() {
        Storage storage = Storage.local();
        Manifest examples = Manifest.read(storage, runDir.resolve("examples").toString());
        assertEquals(2000, examples.rows());
        Map<String, Number> splits = examples.property("split_counts");
        assertEquals(1000, splits.get("test").intValue());
        long train = splits.get("train").longValue();
        Manifest outputs = Manifest.read(storage, runDir.resolve("teacher-outputs/tiny-resnet").toString());
        assertEquals(train, outputs.rows(), "precompute covers the train split once");
        assertEquals(List.of(32, 7, 7), outputs.column("tap_stage3").shape());
        assertEquals("float16-le", outputs.column("tap_stage3").encoding());
        assertEquals(examples.contentHash(), outputs.property("dataset_hash"));
        Manifest teacher = Manifest.read(storage, runDir.resolve("teachers/tiny-resnet").toString());
        assertEquals(teacher.contentHash(), outputs.property("teacher_hash"));
        assertEquals(storage.sha256(runDir.resolve("teachers/tiny-resnet/model.zip").toString()), teacher.contentHash());
    }

    /** Decoding a stored row by its manifest gives what the teacher computes for that image. */
    @Test
    void storedTeacherOutputsEqualTheTeachersOwnOutputs() {
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        try {
            Row out = spark.read().parquet(runDir.resolve("teacher-outputs/tiny-resnet").toString()).orderBy("id").first();
            Row ex = spark.read().parquet(runDir.resolve("examples").toString()).filter("id = " + out.getLong(0)).first();
            ImageShape shape = new ImageShape(28, 28, 1);
            float[] pixels = new float[shape.pixelCount()];
            ExamplesTable.toChw(ex.getAs("image"), shape, pixels, 0);
            ComputationGraph teacher = Models.read(Storage.local(), runDir.resolve("teachers/tiny-resnet/model.zip").toString(), false);
            Map<String, INDArray> acts = teacher.feedForward(Nd4j.create(pixels, new long[]{1, 1, 28, 28}, 'c'), false);
            float[] logits = TensorEncoding.FLOAT32.decode(out.getAs("logits"), 10);
            float[] expectedLogits = acts.get("logits").dup().data().asFloat();
            for (int i = 0; i < 10; i++) {
                assertEquals(expectedLogits[i], logits[i], 1e-4, "logit " + i);
            }
            float[] tap = TensorEncoding.FLOAT16.decode(out.getAs("tap_stage3"), 32 * 7 * 7);
            float[] expectedTap = acts.get("stage3").dup('c').data().asFloat();
            for (int i = 0; i < tap.length; i++) {
                assertEquals(expectedTap[i], tap[i], Math.abs(expectedTap[i]) * 0x1p-11 + 1e-4, "tap element " + i);
            }
        } finally {
            spark.stop();
        }
    }

    @Test
    void secondRunSkipsEveryStage() throws Exception {
        String before = read("students/tiny-cnn/_manifest.json");
        TestRuns.Run again = TestRuns.cli("pipeline", "--config", config.toString());
        assertEquals(0, again.status(), again.err());
        for (String stage : List.of("prep:", "teacher:", "precompute:", "student:", "baseline:", "evaluate:")) {
            assertTrue(again.err().contains(stage) && again.err().contains("up to date"), "stage " + stage + " was not skipped:\n" + again.err());
        }
        assertEquals(before, read("students/tiny-cnn/_manifest.json"));
        assertTrue(again.out().contains("| student | tiny-cnn |"), "the skipped run still prints the report:\n" + again.out());
    }

    @Test
    void inspectPrintsSchemaRowCountAndManifest() {
        TestRuns.Run r = TestRuns.cli("inspect", runDir.resolve("teacher-outputs/tiny-resnet").toString());
        assertEquals(0, r.status(), r.err());
        long rows = Manifest.read(Storage.local(), runDir.resolve("teacher-outputs/tiny-resnet").toString()).rows();
        assertTrue(r.out().contains("rows: " + rows + " (manifest: " + rows + ")"), r.out());
        assertTrue(r.out().contains("tap_stage3: binary"), r.out());
        assertTrue(r.out().contains("\"teacher_hash\""), r.out());
    }

    @Test
    void everyCommandHasHelp() {
        for (String command : List.of("prep", "teacher", "precompute", "distill", "evaluate", "pipeline", "demo", "inspect")) {
            TestRuns.Run r = TestRuns.cli(command, "--help");
            assertEquals(0, r.status(), command + ": " + r.err());
            assertTrue(r.out().contains("Usage: distill " + command), r.out());
        }
    }

    /**
     * A training stage stopped after its first checkpoint (here: its Spark jobs are cancelled, as
     * when a driver dies) keeps its partial output; --resume continues from the checkpoint and the
     * finished metrics start with the epochs that were already done.
     */
    @Test
    void interruptedTrainingResumesFromItsLastCheckpoint() throws Exception {
        String[] args = {"distill", "--config", config.toString(), "--set", "student.name=resumable"};
        Path partialMetrics = runDir.resolve("students/resumable.partial/metrics.jsonl");
        var executor = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            var interruptedRun = executor.submit(() -> TestRuns.cli(args));
            long deadline = System.nanoTime() + 300_000_000_000L;
            while (!Files.exists(partialMetrics) && System.nanoTime() < deadline && !interruptedRun.isDone()) {
                Thread.sleep(20);
            }
            // Cancel until it takes: between two Spark jobs (checkpointing, say) there is nothing to cancel.
            while (!interruptedRun.isDone()) {
                SparkSession.getDefaultSession().foreach(session -> {
                    session.sparkContext().cancelAllJobs();
                    return null;
                });
                Thread.sleep(20);
            }
            TestRuns.Run interrupted = interruptedRun.get();
            assertEquals(1, interrupted.status(), "the run was not interrupted:\n" + interrupted.err());
            List<String> done = Files.readAllLines(partialMetrics);
            assertTrue(!done.isEmpty() && done.size() < 5, "epochs done before the interruption: " + done.size());

            String[] resume = java.util.Arrays.copyOf(args, args.length + 1);
            resume[args.length] = "--resume";
            TestRuns.Run resumed = TestRuns.cli(resume);
            assertEquals(0, resumed.status(), resumed.err());
            assertTrue(resumed.err().contains("resuming after epoch " + done.size()), resumed.err());
            List<String> all = Files.readAllLines(runDir.resolve("students/resumable/metrics.jsonl"));
            assertEquals(5, all.size());
            assertEquals(done, all.subList(0, done.size()));
        } finally {
            executor.shutdownNow();
        }
    }

    private static String read(String file) {
        try {
            return Files.readString(runDir.resolve(file));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
