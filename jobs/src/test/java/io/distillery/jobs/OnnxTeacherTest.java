package io.distillery.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distillery.runtime.Storage;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static io.distillery.jobs.TestRuns.expectBadInput;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An ONNX teacher exported from PyTorch (jobs/src/test/resources/onnx/, made by make_fixture.py)
 * through the real CLI on a Fashion-MNIST slice: prep, teacher (import the .onnx), precompute
 * (logits plus taps named by the model's own tensor names), distill (tiny, with a hint from a
 * tap), evaluate. Stored logits equal the committed PyTorch reference logits within 1e-4 on every
 * committed test image; a missing tap, a wrong input shape and KDFM's shared classifier are
 * one-line errors.
 */
class OnnxTeacherTest {
    static final int LIMIT = 150;
    static final String RAW_TAP = "/MaxPool_1_output_0";
    static final String AT_TAP = "/Relu_1_output_0:attention";
    static final String PRUNED_TAP = "/Relu_1_output_0:prune-l1=8";
    @TempDir
    static Path tmp;
    static Path runDir;
    static Path config;
    static final Map<String, TestRuns.Run> runs = new java.util.LinkedHashMap<>();
    static TestRuns.Run badTap;
    static TestRuns.Run badPrune;

    @BeforeAll
    static void pipeline() {
        runDir = tmp.resolve("run");
        config = TestRuns.config(tmp, runDir, LIMIT, """
                distillery.teacher { name = "torch-cnn", import = "classpath:/onnx/fashion_cnn.onnx" }
                distillery.teacher.onnx { scale = 0.00392156862745098, mean = [0.2860], std = [0.3530] }
                distillery.precompute { taps = ["%s", "%s", "%s"], splits = ["train", "test"] }
                distillery.distill.train.epochs = 1
                distillery.distill.loss.hint-weight = 0.1
                distillery.distill.hint { student-layer = "stage3", teacher-tap = "%s" }
                """.formatted(RAW_TAP, AT_TAP, PRUNED_TAP, RAW_TAP));
        for (String stage : new String[]{"prep", "teacher", "precompute", "distill", "distill --baseline", "evaluate"}) {
            if (stage.equals("precompute")) {
                // The refused precomputes first, while no teacher outputs exist yet.
                badTap = TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.taps=[\"/no/such/value\"]");
                badPrune = TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.taps=[\"/Relu_1_output_0:prune-l1=17\"]");
            }
            List<String> args = new java.util.ArrayList<>(List.of(stage.split(" ")));
            args.addAll(List.of("--config", config.toString()));
            if (stage.equals("precompute")) {
                // Two cores per task: each task's ORT session gets two intra-op threads.
                args.addAll(List.of("--set", "spark.conf.\"spark.task.cpus\"=2"));
            }
            TestRuns.Run r = TestRuns.cli(args.toArray(new String[0]));
            runs.put(stage, r);
            assertEquals(0, r.status(), stage + " failed:\n" + r.err());
        }
    }

    private static JsonNode reference() throws Exception {
        try (InputStream in = OnnxTeacherTest.class.getResourceAsStream("/onnx/fashion_cnn_reference.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    @Test
    void teacherManifestRecordsTheOnnxModel() throws Exception {
        Manifest m = Manifest.read(Storage.local(), runDir.resolve("teachers/torch-cnn").toString());
        assertTrue(Files.exists(runDir.resolve("teachers/torch-cnn/model.onnx")));
        byte[] bytes;
        try (InputStream in = OnnxTeacherTest.class.getResourceAsStream("/onnx/fashion_cnn.onnx")) {
            bytes = in.readAllBytes();
        }
        assertArrayEquals(bytes, Files.readAllBytes(runDir.resolve("teachers/torch-cnn/model.onnx")));
        String sha = "sha256:" + HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
        assertEquals(sha, m.property("model_sha256"));
        assertEquals(sha, m.contentHash());
        assertEquals("onnx", m.property("format"));
        @SuppressWarnings("unchecked")
        Map<String, Object> onnx = (Map<String, Object>) m.property("onnx");
        assertEquals(13, ((Number) onnx.get("opset")).intValue());
        assertEquals("pytorch", onnx.get("producer_name"));
        assertEquals("image", onnx.get("input_name"));
        assertEquals("[batch, 1, 28, 28]", onnx.get("input_dims"));
        assertEquals(List.of("logits"), onnx.get("output_names"));
        assertEquals("logits", onnx.get("logits_output"));
    }

    /** The stored float32 logits of the committed test images are PyTorch's own, within 1e-4. */
    @Test
    void storedLogitsEqualThePyTorchReference() throws Exception {
        JsonNode ref = reference();
        Manifest m = Manifest.read(Storage.local(), runDir.resolve("teacher-outputs/torch-cnn").toString());
        assertEquals(List.of(10), m.column("logits").shape());
        assertTrue(m.column("logits").description().contains("exactly as ONNX Runtime returns them"), m.column("logits").description());
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        double maxDiff = 0;
        int checked = 0;
        try {
            Map<Long, Row> outputs = new java.util.HashMap<>();
            spark.read().parquet(runDir.resolve("teacher-outputs/torch-cnn").toString()).collectAsList().forEach(r -> outputs.put(r.getLong(0), r));
            Map<Long, byte[]> images = new java.util.HashMap<>();
            spark.read().parquet(runDir.resolve("examples").toString()).filter("split = 'test'").select("id", "image").collectAsList()
                    .forEach(r -> images.put(r.getLong(0), r.getAs(1)));
            for (int i = 0; i < ref.get("test_index").size(); i++) {
                // idx test records follow the LIMIT training records in id order.
                long id = LIMIT + ref.get("test_index").get(i).asLong();
                assertArrayEquals(HexFormat.of().parseHex(ref.get("images_hex").get(i).asText()), images.get(id), "image of id " + id);
                Row row = outputs.get(id);
                assertTrue(row != null, "no teacher outputs for test id " + id);
                float[] stored = TensorEncoding.FLOAT32.decode(row.getAs("logits"), 10);
                for (int k = 0; k < 10; k++) {
                    double expected = ref.get("logits").get(i).get(k).asDouble();
                    maxDiff = Math.max(maxDiff, Math.abs(expected - stored[k]));
                }
                checked++;
            }
        } finally {
            spark.stop();
        }
        System.out.printf("ONNX teacher: max |stored logit - PyTorch logit| = %.3g over %d images%n", maxDiff, checked);
        assertEquals(32, checked);
        assertTrue(maxDiff <= 1e-4, "max |logit difference| " + maxDiff);
    }

    @Test
    void ortSessionsUseTheTasksCoresAndOneInterOpThread() {
        assertTrue(runs.get("precompute").err().contains("2 intra-op threads, 1 inter-op thread"), runs.get("precompute").err());
        assertFalse(runs.get("precompute").err().contains("1 intra-op thread,"), runs.get("precompute").err());
        // evaluate runs with the default spark.task.cpus = 1.
        assertTrue(runs.get("evaluate").err().contains("1 intra-op thread, 1 inter-op thread"), runs.get("evaluate").err());
    }

    @Test
    void tapsAreNamedByTheModelsTensorNames() throws Exception {
        Manifest m = Manifest.read(Storage.local(), runDir.resolve("teacher-outputs/torch-cnn").toString());
        assertEquals(List.of(RAW_TAP, AT_TAP, PRUNED_TAP), m.property("taps"));
        ColumnSpec raw = m.column("tap__MaxPool_1_output_0");
        assertEquals(List.of(16, 7, 7), raw.shape());
        assertEquals(RAW_TAP, raw.tap());
        ColumnSpec at = m.column("tap__Relu_1_output_0_attention");
        assertEquals(List.of(14, 14), at.shape());
        assertEquals("attention", at.transform());
        ColumnSpec pruned = m.column("tap__Relu_1_output_0_prune_l1_8");
        assertEquals(List.of(8, 14, 14), pruned.shape());
        assertEquals("prune-l1=8", pruned.transform());
        assertEquals("/Relu_1_output_0", pruned.tap());
        assertTrue(pruned.description().contains("'/conv2/Conv'") && pruned.description().contains("8 of 16 channels"), pruned.description());
        assertEquals(expectedKeptChannels(), pruned.channels());
    }

    /** The 8 largest filter L1 norms of conv2's weight initializer, read here straight from the file. */
    private static List<Integer> expectedKeptChannels() throws Exception {
        onnx.Onnx.ModelProto model;
        try (InputStream in = OnnxTeacherTest.class.getResourceAsStream("/onnx/fashion_cnn.onnx")) {
            model = onnx.Onnx.ModelProto.parseFrom(in.readAllBytes());
        }
        onnx.Onnx.NodeProto conv = model.getGraph().getNodeList().stream().filter(n -> n.getName().equals("/conv2/Conv")).findFirst().orElseThrow();
        onnx.Onnx.TensorProto w = model.getGraph().getInitializerList().stream().filter(t -> t.getName().equals(conv.getInput(1))).findFirst().orElseThrow();
        java.nio.FloatBuffer fb = java.nio.ByteBuffer.wrap(w.getRawData().toByteArray()).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        double[] norms = new double[16];
        for (int i = 0; i < 16 * 8 * 9; i++) {
            norms[i / 72] += Math.abs(fb.get(i));
        }
        return java.util.stream.IntStream.range(0, 16).boxed().sorted((a, b) -> Double.compare(norms[b], norms[a])).limit(8).sorted().toList();
    }

    @Test
    void evaluateReportsTheOnnxTeacher() throws Exception {
        JsonNode report = new ObjectMapper().readTree(runDir.resolve("reports/report.json").toFile());
        JsonNode teacher = null;
        for (JsonNode model : report.get("models")) {
            if (model.get("role").asText().equals("teacher")) {
                teacher = model;
            }
        }
        assertTrue(teacher != null, report.toString());
        assertEquals(LIMIT, teacher.get("test_images").asLong(), teacher.toString());
        // The fixture scores 0.85 on the whole test file; 150 images leave room for chance.
        assertTrue(teacher.get("test_accuracy").asDouble() > 0.7, teacher.toString());
        assertTrue(teacher.get("images_per_second").size() == 2, teacher.toString());
        assertTrue(teacher.get("images_per_second").get("16").asDouble() > 0, teacher.toString());
    }

    @Test
    void aMissingTapIsOneLineListingTheModelsValueNames() {
        String line = expectBadInput(badTap, "'/no/such/value' is not a value of ONNX teacher", "valid names: [",
                "/MaxPool_1_output_0", "/Relu_output_0", "image");
        assertFalse(line.contains("onnx::Conv"), "initializers are not taps: " + line);
    }

    @Test
    void pruningMoreChannelsThanTheConvHasIsOneLine() {
        expectBadInput(badPrune, "'/Relu_1_output_0:prune-l1=17' of ONNX teacher torch-cnn", "'/conv2/Conv' has 16 output channels",
                "k must be in 1..16");
    }

    @Test
    void aShapeMismatchIsOneLineNamingBothShapes() throws Exception {
        Path other = tmp.resolve("nhwc-run");
        Files.createDirectories(other);
        // Prep once more into a fresh run, then import with the wrong layout: the model's [batch, 1, 28, 28] vs NHWC [N, 28, 28, 1].
        TestRuns.Run prep = TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + other);
        assertEquals(0, prep.status(), prep.err());
        expectBadInput(TestRuns.cli("teacher", "--config", config.toString(), "--set", "run-dir=" + other, "--set", "teacher.onnx.layout=NHWC"),
                "input 'image' has shape [batch, 1, 28, 28]", "28x28x1", "NHWC [N, 28, 28, 1]");
        assertFalse(Files.exists(other.resolve("teachers/torch-cnn")));
    }

    @Test
    void kdfmSharedClassifierRefusesAnOnnxTeacher() {
        expectBadInput(TestRuns.cli("distill", "--config", config.toString(), "--set", "student.name=kdfm",
                        "--set", "distill.kdfm.shared-classifier=true", "--set", "distill.kdfm.student-layer=stage3",
                        "--set", "distill.kdfm.teacher-tap=\"" + RAW_TAP + "\""),
                "is an imported ONNX model", "needs a DL4J teacher");
    }
}
