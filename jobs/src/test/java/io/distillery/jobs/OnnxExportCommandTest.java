package io.distillery.jobs;

import io.distillery.data.ImageShape;
import io.distillery.model.Models;
import io.distillery.onnx.OnnxExport;
import io.distillery.onnx.OnnxModels;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code distill export} through the real CLI on a slice of Fashion-MNIST: the shipped teacher
 * imported, a tiny flatten-head student distilled for one epoch (with a FitNets hint, whose connector
 * the deployed student drops), both exported, and the ONNX files run in ONNX Runtime on every test
 * image of the slice: the same top class as DL4J on each, logits within 1e-4.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OnnxExportCommandTest {
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static TestRuns.Run export;

    @BeforeAll
    static void distillAndExport() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, 150, """
                distillery.teacher { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip" }
                distillery.teacher.model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] }
                distillery.student.model.head = "flatten"
                distillery.distill.train.epochs = 1
                """);
        for (String stage : new String[]{"prep", "teacher", "precompute", "distill"}) {
            TestRuns.Run r = TestRuns.cli(stage, "--config", config.toString());
            assertEquals(0, r.status(), stage + " failed:\n" + r.err());
        }
        export = TestRuns.cli("export", "--config", config.toString());
    }

    private Path student() {
        return runDir.resolve("students/tiny-cnn");
    }

    private Path teacher() {
        return runDir.resolve("teachers/resnet");
    }

    @Test
    @Order(1)
    void exportsTheStudentAndTheTeacherThatRunInOnnxRuntimeAsInDl4jOnEveryTestImage() throws IOException {
        assertEquals(0, export.status(), export.err());
        assertFalse(Files.exists(runDir.resolve("students/tiny-cnn-baseline")), "no baseline was trained");
        assertTrue(export.out().contains("student") && export.out().contains("teacher") && !export.out().contains("baseline"), export.out());
        INDArray images = testImages();
        assertEquals(150, images.size(0));
        for (Path dir : List.of(student(), teacher())) {
            try (var files = Files.list(dir)) {
                assertFalse(files.anyMatch(f -> f.getFileName().toString().endsWith(".tmp")), "temporary file left in " + dir);
            }
            byte[] onnx = Files.readAllBytes(dir.resolve("model.onnx"));
            ComputationGraph graph = Models.read(Storage.local(), dir.resolve("model.zip").toString(), false);
            OnnxModels.Comparison cmp = OnnxModels.compare(graph, onnx, images, 64);
            System.out.println("ONNX export of " + dir.getFileName() + " on the test images: " + cmp);
            assertEquals(150, cmp.argmaxAgree(), dir + ": " + cmp);
            assertTrue(cmp.maxAbsDiff() <= 1e-4, dir + ": " + cmp);

            Map<String, String> meta = OnnxExport.metadata(onnx);
            assertEquals(Storage.local().sha256(dir.resolve("model.zip").toString()), meta.get("distillery.source_sha256"));
            assertTrue(meta.get("distillery.class_names").matches("\\[.*\\]") && meta.get("distillery.class_names").split(",").length == 10,
                    meta.toString());
            assertTrue(meta.get("distillery.check").startsWith("150 test images: max |logit difference| "), meta.toString());
            try (OnnxModels.Runner r = OnnxModels.open(onnx, 1)) {
                INDArray p = r.run(images, OnnxExport.PROBABILITIES);
                assertTrue(graph.outputSingle(false, images).equalsWithEps(p, 1e-5), dir + ": probabilities differ");
            }
        }
    }

    @Test
    @Order(2)
    void aRerunKeepsUpToDateFilesAndReplacesAnotherExportOnlyWithForce() throws IOException {
        byte[] studentOnnx = Files.readAllBytes(student().resolve("model.onnx"));
        TestRuns.Run again = TestRuns.cli("export", "--config", config.toString());
        assertEquals(0, again.status(), again.err());
        assertTrue(again.out().contains("up to date"), again.out());
        assertArrayEquals(studentOnnx, Files.readAllBytes(student().resolve("model.onnx")));

        byte[] teacherOnnx = Files.readAllBytes(teacher().resolve("model.onnx"));
        Files.write(student().resolve("model.onnx"), teacherOnnx); // a file that was not exported from this student
        TestRuns.Run refused = TestRuns.cli("export", "--config", config.toString());
        TestRuns.expectBadInput(refused, "students/tiny-cnn/model.onnx", "pass --force");
        assertArrayEquals(teacherOnnx, Files.readAllBytes(student().resolve("model.onnx")), "a refused run writes nothing");

        TestRuns.Run forced = TestRuns.cli("export", "--config", config.toString(), "--force", "--check-images", "16");
        assertEquals(0, forced.status(), forced.err());
        Map<String, String> meta = OnnxExport.metadata(Files.readAllBytes(student().resolve("model.onnx")));
        assertEquals(Storage.local().sha256(student().resolve("model.zip").toString()), meta.get("distillery.source_sha256"));
        assertTrue(meta.get("distillery.check").startsWith("16 test images: "), meta.toString());
    }

    @Test
    @Order(3)
    void nothingToExportIsOneLine() {
        TestRuns.Run r = TestRuns.cli("export", "--config", config.toString(), "--set", "student.name=absent", "--set", "teacher.name=absent");
        TestRuns.expectBadInput(r, "nothing to export", "students/absent");
    }

    @Test
    void helpNamesTheOptions() {
        TestRuns.Run r = TestRuns.cli("export", "--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("--check-images") && r.out().contains("--force") && r.out().contains("model.onnx"), r.out());
    }

    /** Every test image of the slice, in id order, as the models take them. */
    private static INDArray testImages() {
        SparkSession spark = SparkSession.builder().master("local[1]").appName("onnx-check").getOrCreate();
        try {
            List<Row> rows = spark.read().parquet(runDir.resolve("examples").toString()).filter("split = 'test'").orderBy("id")
                    .select("image").collectAsList();
            ImageShape shape = new ImageShape(28, 28, 1);
            float[] data = new float[rows.size() * shape.pixelCount()];
            for (int i = 0; i < rows.size(); i++) {
                ExamplesTable.toChw(rows.get(i).getAs("image"), shape, data, i * shape.pixelCount());
            }
            return Nd4j.create(data, new long[]{rows.size(), 1, 28, 28}, 'c');
        } finally {
            spark.stop();
        }
    }
}
