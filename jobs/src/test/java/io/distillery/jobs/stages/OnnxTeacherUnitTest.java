package io.distillery.jobs.stages;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distillery.config.PipelineConfig.OnnxInputSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.onnx.OnnxGraph;
import io.distillery.onnx.OnnxModels;
import io.distillery.onnx.OnnxTeacher;
import io.distillery.table.TapSpec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ONNX teacher pieces without Spark, on the PyTorch fixture (jobs/src/test/resources/onnx/). */
class OnnxTeacherUnitTest {
    static final ImageShape MNIST = new ImageShape(28, 28, 1);
    static final OnnxInputSettings FIXTURE_INPUT = new OnnxInputSettings("NCHW", 1 / 255.0, List.of(0.2860), List.of(0.3530), "");
    static byte[] bytes;
    static JsonNode ref;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream in = OnnxTeacherUnitTest.class.getResourceAsStream("/onnx/fashion_cnn.onnx")) {
            bytes = in.readAllBytes();
        }
        try (InputStream in = OnnxTeacherUnitTest.class.getResourceAsStream("/onnx/fashion_cnn_reference.json")) {
            ref = new ObjectMapper().readTree(in);
        }
    }

    @Test
    void graphFactsOfThePyTorchExport() {
        OnnxGraph g = OnnxGraph.parse(bytes, "fixture");
        assertEquals(13, g.opset());
        assertEquals("pytorch", g.producerName());
        assertEquals("image", g.inputName());
        assertArrayEquals(new long[]{-1, 1, 28, 28}, g.inputShape());
        assertEquals("[batch, 1, 28, 28]", g.inputShapeText());
        assertEquals(List.of("logits"), g.outputNames());
        assertTrue(g.valueNames().containsAll(List.of("image", "/Relu_output_0", "/MaxPool_1_output_0", "logits")), g.valueNames().toString());
        assertFalse(g.valueNames().stream().anyMatch(n -> n.startsWith("onnx::") || n.startsWith("fc.")), "initializers are not values: " + g.valueNames());
        assertTrue(g.parameters() > 5000 && g.parameters() < 20000, "parameters " + g.parameters());
        var e = assertThrows(BadInputException.class, () -> OnnxGraph.parse(new byte[]{1, 2, 3}, "junk.onnx"));
        assertTrue(e.getMessage().startsWith("teacher junk.onnx is not an ONNX model"), e.getMessage());
    }

    /** In-process, batch 32: ORT on the edited model gives PyTorch's logits and the intermediate tensors too. */
    @Test
    void intermediateOutputsAndLogitsMatchPyTorch() {
        OnnxGraph g = OnnxGraph.parse(bytes, "fixture");
        List<TeacherInference.Tap> taps = List.of(new TeacherInference.Tap(TapSpec.raw("/MaxPool_1_output_0"), null),
                new TeacherInference.Tap(new TapSpec("/Relu_1_output_0", TapSpec.ATTENTION, 0), null));
        List<String> fetched = OnnxTeacherInference.fetched("logits", taps);
        assertEquals(List.of("logits", "/MaxPool_1_output_0", "/Relu_1_output_0"), fetched);
        byte[] edited = g.withOutputs(fetched);
        assertEquals(List.of("logits", "/MaxPool_1_output_0", "/Relu_1_output_0"), OnnxGraph.parse(edited, "edited").outputNames());

        OnnxTeacher teacher = new OnnxTeacher(g.inputName(), MNIST, FIXTURE_INPUT);
        int n = ref.get("logits").size();
        float[] x = new float[n * MNIST.pixelCount()];
        for (int i = 0; i < n; i++) {
            teacher.fill(HexFormat.of().parseHex(ref.get("images_hex").get(i).asText()), x, i * MNIST.pixelCount());
        }
        Map<String, OnnxModels.Runner.Tensor> outs;
        try (OnnxModels.Runner runner = OnnxModels.open(edited, 2)) {
            outs = teacher.run(runner, x, n, fetched);
        }
        assertArrayEquals(new long[]{n, 16, 7, 7}, outs.get("/MaxPool_1_output_0").shape());
        assertArrayEquals(new long[]{n, 16, 14, 14}, outs.get("/Relu_1_output_0").shape());
        double maxDiff = 0;
        float[] logits = outs.get("logits").data();
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 10; k++) {
                maxDiff = Math.max(maxDiff, Math.abs(logits[i * 10 + k] - ref.get("logits").get(i).get(k).asDouble()));
            }
        }
        System.out.printf("ONNX Runtime in-process: max |logit - PyTorch logit| = %.3g over %d images%n", maxDiff, n);
        assertTrue(maxDiff <= 1e-4, "max |logit difference| " + maxDiff);

        // The unedited model gives the same logits: exposing intermediates changes nothing.
        try (OnnxModels.Runner runner = OnnxModels.open(bytes, 1)) {
            assertArrayEquals(logits, teacher.run(runner, x, n, List.of("logits")).get("logits").data(), 1e-6f);
        }
        List<float[]> columns = OnnxTeacherInference.columns(outs, "logits", taps);
        assertEquals(n * 10, columns.get(0).length);
        assertEquals(n * 16 * 7 * 7, columns.get(1).length);
        assertEquals(n * 14 * 14, columns.get(2).length);

        // prune-l1 on an ONNX value: the producing Conv's kept channels of the value itself.
        var selection = g.pruneL1("/Relu_1_output_0", 5);
        assertEquals("/conv2/Conv", selection.conv());
        assertEquals(16, selection.channels());
        assertEquals(5, selection.kept().length);
        var pruned = new TeacherInference.Tap(new TapSpec("/Relu_1_output_0", TapSpec.PRUNE_L1, 5), selection.kept());
        float[] stored = OnnxTeacherInference.columns(outs, "logits", List.of(pruned)).get(1);
        float[] relu = outs.get("/Relu_1_output_0").data();
        int plane = 14 * 14;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 5; j++) {
                for (int p = 0; p < plane; p++) {
                    assertEquals(relu[(i * 16 + selection.kept()[j]) * plane + p], stored[(i * 5 + j) * plane + p], 0f);
                }
            }
        }
        // Through MaxPool and Relu to the same Conv; the input has no Conv upstream.
        assertEquals("/conv2/Conv", g.pruneL1("/MaxPool_1_output_0", 3).conv());
        var e = assertThrows(BadInputException.class, () -> g.pruneL1("/Flatten_output_0", 3));
        assertTrue(e.getMessage().contains("is a Flatten, not a Conv"), e.getMessage());
    }

    @Test
    void pixelsAreScaledNormalisedAndLaidOut() {
        ImageShape rgb = new ImageShape(1, 2, 3);
        byte[] hwc = {(byte) 255, 0, 10, 20, 30, (byte) 40}; // pixel 0: (255, 0, 10), pixel 1: (20, 30, 40)
        OnnxInputSettings nchw = new OnnxInputSettings("NCHW", 0.1, List.of(1.0, 2.0, 3.0), List.of(2.0), "");
        float[] x = new float[6];
        new OnnxTeacher("x", rgb, nchw).fill(hwc, x, 0);
        assertArrayEquals(new float[]{(25.5f - 1) / 2, (2f - 1) / 2, (0f - 2) / 2, (3f - 2) / 2, (1f - 3) / 2, (4f - 3) / 2}, x, 1e-6f);
        OnnxInputSettings nhwc = new OnnxInputSettings("NHWC", 1, List.of(), List.of(), "");
        new OnnxTeacher("x", rgb, nhwc).fill(hwc, x, 0);
        assertArrayEquals(new float[]{255, 0, 10, 20, 30, 40}, x, 0f);
        assertArrayEquals(new long[]{5, 1, 2, 3}, new OnnxTeacher("x", rgb, nhwc).inputShape(5));
        var e = assertThrows(BadInputException.class, () -> new OnnxTeacher("x", rgb, new OnnxInputSettings("NCHW", 1, List.of(1.0, 2.0), List.of(), "")));
        assertEquals("config key 'teacher.onnx.mean' has 2 values but the images have 3 channels; give one per channel, one for all, or []", e.getMessage());
    }

    @Test
    void aWrongImageShapeIsOneLineNamingBoth() {
        OnnxGraph g = OnnxGraph.parse(bytes, "fixture");
        OnnxTeacher.checkInput(g, MNIST, FIXTURE_INPUT, "fixture.onnx");
        var e = assertThrows(BadInputException.class, () -> OnnxTeacher.checkInput(g, new ImageShape(32, 32, 3), FIXTURE_INPUT, "fixture.onnx"));
        assertEquals("teacher fixture.onnx input 'image' has shape [batch, 1, 28, 28] but the examples' 32x32x3 images are NCHW [N, 3, 32, 32]"
                + " (teacher.onnx.layout = \"NCHW\")", e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void threadsComeFromTheTaskOutsideATaskTheFallback() {
        assertEquals(3, OnnxTeacher.taskCores(3));
        assertEquals(1, OnnxTeacher.taskCores(0));
    }
}
