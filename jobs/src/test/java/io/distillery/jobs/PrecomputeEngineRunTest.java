package io.distillery.jobs;

import io.distillery.runtime.Storage;
import io.distillery.table.Manifest;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * precompute.engine through the real Spark job (local[2]): the shipped ResNet teacher over the same
 * training images (125 of 300) once in DL4J and once exported to ONNX Runtime. Both tables hold the same ids, and every
 * stored logit and tap value agrees within 1e-4 of the values' scale; the manifest names the engine
 * and its check. An ensemble refuses the ONNX Runtime engine with one line.
 */
class PrecomputeEngineRunTest {
    static final String TAPS = "[\"stage3\", \"stage2:attention\"]";
    @TempDir
    static Path tmp;
    static Map<String, Map<Long, float[][]>> tables = new HashMap<>();
    static Map<String, Manifest> manifests = new HashMap<>();

    @BeforeAll
    static void precomputeWithBothEngines() {
        for (String engine : List.of("dl4j", "onnxruntime")) {
            Path runDir = tmp.resolve(engine);
            Path config = TestRuns.config(tmp, runDir, 150, """
                    distillery.teacher { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip" }
                    distillery.teacher.model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] }
                    distillery.precompute { taps = %s, tap-encoding = "float32", engine = "%s" }
                    """.formatted(TAPS, engine));
            for (String stage : new String[]{"prep", "teacher", "precompute"}) {
                TestRuns.Run r = TestRuns.cli(stage, "--config", config.toString());
                assertEquals(0, r.status(), engine + " " + stage + " failed:\n" + r.err());
            }
            String table = runDir.resolve("teacher-outputs/resnet").toString();
            Manifest m = Manifest.read(Storage.local(), table);
            manifests.put(engine, m);
            tables.put(engine, read(table, m));
        }
    }

    private static Map<Long, float[][]> read(String table, Manifest m) {
        List<String> columns = List.of("logits", "tap_stage3", "tap_stage2_attention");
        Map<Long, float[][]> rows = new HashMap<>();
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        try {
            for (Row r : spark.read().parquet(table).collectAsList()) {
                float[][] values = new float[columns.size()][];
                for (int c = 0; c < columns.size(); c++) {
                    values[c] = TensorEncoding.FLOAT32.decode(r.getAs(columns.get(c)), m.column(columns.get(c)).elementCount());
                }
                rows.put(r.getLong(0), values);
            }
        } finally {
            spark.stop();
        }
        return rows;
    }

    @Test
    void bothEnginesStoreTheSameValuesForTheSameIds() {
        Map<Long, float[][]> dl4j = tables.get("dl4j");
        Map<Long, float[][]> ort = tables.get("onnxruntime");
        assertEquals(dl4j.keySet(), ort.keySet());
        assertTrue(dl4j.size() > 100, "rows " + dl4j.size());
        String[] names = {"logits", "tap_stage3", "tap_stage2_attention"};
        for (var e : dl4j.entrySet()) {
            float[][] a = e.getValue();
            float[][] b = ort.get(e.getKey());
            for (int c = 0; c < names.length; c++) {
                double scale = 1;
                for (float v : a[c]) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int i = 0; i < a[c].length; i++) {
                    assertEquals(a[c][i], b[c][i], 1e-4 * scale, names[c] + "[" + i + "] of id " + e.getKey());
                }
            }
        }
    }

    @Test
    void manifestNamesTheEngineAndItsCheck() {
        assertEquals("dl4j", manifests.get("dl4j").property("engine"));
        assertEquals("onnxruntime", manifests.get("onnxruntime").property("engine"));
        String check = manifests.get("onnxruntime").property("engine_check");
        assertNotNull(check);
        assertTrue(check.startsWith("ONNX Runtime against DL4J on 64 examples") && check.contains("stage3"), check);
        assertTrue(manifests.get("onnxruntime").column("logits").description().contains("ONNX Runtime"));
    }

    /** This build has ONNX Runtime's CPU natives only: asking for CUDA is one line naming the key and the GPU build, and writes nothing. */
    @Test
    void cudaIsOneLineNamingTheGpuBuildOrTheEngine() throws java.io.IOException {
        Path runDir = tmp.resolve("cuda");
        Path config = TestRuns.config(tmp, runDir, 50, """
                distillery.teacher { name = "resnet", import = "classpath:/demo/fashion-mnist-resnet.zip" }
                distillery.teacher.model { architecture = "resnet", widths = [32, 64, 128], blocks = [1, 1, 2] }
                distillery.precompute { taps = ["stage3"], device = "cuda" }
                """);
        for (String stage : new String[]{"prep", "teacher"}) {
            assertEquals(0, TestRuns.cli(stage, "--config", config.toString()).status(), stage);
        }
        TestRuns.expectBadInput(TestRuns.cli("precompute", "--config", config.toString()),
                "'precompute.device' is \"cuda\"", "teacher resnet runs in DL4J", "set precompute.engine = \"onnxruntime\"");
        TestRuns.expectBadInput(TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.engine=onnxruntime"),
                "precompute.device = \"cuda\": ONNX Runtime cannot use CUDA device 0", "mvn -Ponnxruntime-gpu");
        assertTrue(!java.nio.file.Files.exists(runDir.resolve("teacher-outputs")) || TestRuns.isEmpty(runDir.resolve("teacher-outputs")),
                "a failed precompute left output");
    }

    @Test
    void anEnsembleRefusesTheOnnxRuntimeEngine() {
        Path runDir = tmp.resolve("ensemble");
        Path config = TestRuns.config(tmp, runDir, 50, """
                distillery.teacher { name = "trio" }
                distillery.teachers = [
                  { name = "a", import = "classpath:/demo/fashion-mnist-cnn-a.zip", model { architecture = "cnn", widths = [32, 64, 128], blocks = [1, 1, 1], head = "flatten" } }
                  { name = "b", import = "classpath:/demo/fashion-mnist-cnn-b.zip", model { architecture = "cnn", widths = [32, 64, 128], blocks = [1, 1, 1], head = "flatten" } }
                ]
                distillery.precompute { taps = [], engine = "onnxruntime" }
                """);
        for (String stage : new String[]{"prep", "teacher"}) {
            assertEquals(0, TestRuns.cli(stage, "--config", config.toString()).status(), stage);
        }
        TestRuns.Run r = TestRuns.cli("precompute", "--config", config.toString());
        TestRuns.expectBadInput(r, "precompute.engine", "ensemble", "set precompute.engine = \"dl4j\"");
    }
}
