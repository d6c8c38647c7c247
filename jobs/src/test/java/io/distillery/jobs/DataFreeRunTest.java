package io.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.method.HeaderAttention;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.Manifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CDFKD-MFS through the real jobs (Spark local[2], 2 workers drawing their own noise): the shipped
 * cnn-a teacher and a second small teacher trained in the run; the student trains on generated
 * images only (no precompute table is written, no training image is read), deploys as a plain
 * multi-header classifier and is evaluated on the real test images. An ONNX teacher is a one-line
 * error that says why.
 */
class DataFreeRunTest {
    @TempDir
    static Path tmp;
    static Path runDir;
    static TestRuns.Run pipeline;
    static TestRuns.Run onnx;
    static TestRuns.Run attention;

    @BeforeAll
    static void run() {
        runDir = tmp.resolve("run");
        Path config = TestRuns.config(tmp, runDir, 400, """
                distillery.teacher { name = "pair" }
                distillery.teachers = [
                  { name = "cnn-a", import = "classpath:/demo/fashion-mnist-cnn-a.zip",
                    model { architecture = "cnn", widths = [32, 64, 128], blocks = [1, 1, 1], head = "flatten" } }
                  { name = "small", model { architecture = "cnn", widths = [8, 16, 32], blocks = [1, 1, 1] }, train { epochs = 3, learning-rate = 0.02 } }
                ]
                distillery.distill {
                  train { epochs = 2, learning-rate = 0.01, lr-schedule = "constant", averaging-frequency = 5 }
                  loss { hint-weight = 0 }
                  hint { student-layer = "", teacher-tap = "" }
                  cdfkd-mfs { enabled = true, batches-per-epoch = 10, generator-widths = [16, 8] }
                }
                distillery.evaluate.onnx = true
                """);
        pipeline = TestRuns.cli("pipeline", "--config", config.toString());
        attention = TestRuns.cli("distill", "--config", config.toString(), "--set", "student.name=tiny-attention",
                "--set", "distill.cdfkd-mfs.attention-samples=50", "--set", "distill.cdfkd-mfs.class-weight=0.5",
                "--set", "distill.train.epochs=1");
        Path onnxConfig = TestRuns.config(tmp, tmp.resolve("onnx-run"), 100, """
                distillery.teacher { name = "torch-cnn", import = "classpath:/onnx/fashion_cnn.onnx" }
                distillery.teacher.onnx { scale = 0.00392156862745098, mean = [0.2860], std = [0.3530] }
                distillery.distill { loss { hint-weight = 0 }, hint { student-layer = "", teacher-tap = "" }, cdfkd-mfs { enabled = true } }
                """);
        onnx = TestRuns.cli("pipeline", "--config", onnxConfig.toString());
    }

    @Test
    void theStudentTrainsOnGeneratedImagesOnly() throws Exception {
        assertEquals(0, pipeline.status(), pipeline.err());
        assertFalse(Files.exists(runDir.resolve("teacher-outputs")), "data-free distillation precomputes nothing");
        Manifest student = Manifest.read(Storage.local(), runDir.resolve("students/tiny-cnn").toString());
        assertEquals(0, ((Number) student.property("training_images")).intValue());
        assertEquals(List.of("cnn-a", "small"), student.property("teachers"));
        assertEquals(2, ((Number) student.property("epochs")).intValue());
        assertTrue(student.properties().get("methods").toString().contains("reconstructed-v0"), student.properties().toString());
        // Deployed: image in, logits = mean of two headers, softmax out; no generator or teacher inside.
        ComputationGraph g = Models.read(Storage.local(), runDir.resolve("students/tiny-cnn/model.zip").toString(), false);
        assertEquals(List.of("input"), g.getConfiguration().getNetworkInputs());
        assertTrue(g.getConfiguration().getVertices().keySet().stream().noneMatch(v -> v.startsWith("t0_") || v.startsWith("gen")),
                g.getConfiguration().getVertices().keySet().toString());
        String report = Files.readString(runDir.resolve("reports/report.md"));
        assertTrue(report.contains("| student | tiny-cnn |") && report.contains("| ensemble | pair |"), report);
        // evaluate.onnx: the teachers get their ONNX Runtime rows; the multi-header student (merges, depthwise
        // convs) is outside the exporter's mapping and gets a warning instead of failing the stage.
        assertTrue(report.contains("teacher (ONNX Runtime)"), report);
        assertFalse(report.contains("student (ONNX Runtime)"), report);
        assertTrue(pipeline.err().contains("evaluate.onnx: no ONNX Runtime row for student"), pipeline.err());
    }

    @Test
    void aClassConditionalGeneratorAndTheAttentionStepOnFiftyLabelledImages() throws Exception {
        assertEquals(0, attention.status(), attention.err());
        Manifest student = Manifest.read(Storage.local(), runDir.resolve("students/tiny-attention").toString());
        assertEquals(50, ((Number) student.property("training_images")).intValue(), "the attention step's images are the only real ones");
        Map<?, ?> step = (Map<?, ?>) student.property("attention");
        assertEquals(40, ((Number) step.get("train_images")).intValue());
        assertEquals(10, ((Number) step.get("held_out_images")).intValue());
        assertTrue(((Number) step.get("held_out_accuracy")).doubleValue() >= ((Number) step.get("held_out_accuracy_of_mean")).doubleValue(),
                step.toString());
        assertTrue(student.properties().get("methods").toString().contains("classWeight=0.5"), student.properties().toString());
        // Deployed with the attention block in place of the mean; still image in, softmax out.
        ComputationGraph g = Models.read(Storage.local(), runDir.resolve("students/tiny-attention/model.zip").toString(), false);
        assertEquals(List.of("input"), g.getConfiguration().getNetworkInputs());
        assertTrue(g.getConfiguration().getVertices().containsKey(HeaderAttention.SCORE), g.getConfiguration().getVertices().keySet().toString());
        assertTrue(attention.err().contains("attention step on 50 labelled training images"), attention.err());
    }

    @Test
    void anOnnxTeacherCannotRunInsideTheGraph() {
        TestRuns.expectBadInput(onnx, "torch-cnn", "ONNX", "DL4J weights");
    }
}
