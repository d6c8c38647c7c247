package io.distillery.jobs.stages;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.onnx.OnnxExport;
import io.distillery.onnx.OnnxGraph;
import io.distillery.onnx.OnnxModels;
import io.distillery.onnx.OnnxTeacher;
import io.distillery.table.ExamplesTable;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code precompute.engine = "onnxruntime"} for a DL4J teacher. The teacher is exported to ONNX in
 * memory by {@link OnnxExport} (the mapping {@code distill export} writes), each tapped layer is
 * added as a graph output, and before any Spark job the export runs in ONNX Runtime beside DL4J on
 * the first examples: logits and every tapped layer must agree within {@value #TOLERANCE} of the
 * values' scale, or precompute stops with a line saying to use {@code dl4j}. Executors then run it
 * exactly as they run an imported ONNX teacher ({@link OnnxTeacherInference}), which is several
 * times faster than DL4J's {@code output()} on CPUs (README, "Speed").
 */
final class OnnxRuntimeEngine {
    static final double TOLERANCE = 1e-4;
    private static final String SETTING = "precompute.engine = \"onnxruntime\"";
    private static final String USE_DL4J = "; set precompute.engine = \"dl4j\"";

    private OnnxRuntimeEngine() {
    }

    /** The export to broadcast (taps as outputs), how images feed it, and what the check against DL4J found. */
    record Prepared(byte[] model, OnnxTeacher teacher, String check) {
    }

    static Prepared prepare(ComputationGraph graph, ImageShape shape, List<TeacherInference.Tap> taps, String teacher, List<byte[]> checkImages) {
        if (!graph.getConfiguration().getVertices().containsKey(ModelZoo.LOGITS)) {
            throw new BadInputException(SETTING + " needs a teacher with a '" + ModelZoo.LOGITS + "' layer, as the model zoo builds them; teacher "
                    + teacher + " has none" + USE_DL4J);
        }
        OnnxExport.Exported exported;
        try {
            exported = OnnxExport.export(graph, shape, Map.of());
        } catch (BadInputException e) {
            throw new BadInputException(SETTING + ", teacher " + teacher + ": " + e.getMessage() + USE_DL4J, e);
        }
        for (TeacherInference.Tap tap : taps) {
            String layer = tap.spec().layer();
            String value = exported.values().get(layer);
            if (value == null) {
                throw new BadInputException("precompute.taps: layer '" + layer + "' of teacher " + teacher + " does not feed its logits, so "
                        + SETTING + " cannot fetch it from the ONNX export" + USE_DL4J);
            }
            if (!value.equals(layer)) {
                throw new BadInputException("precompute.taps: layer '" + layer + "' of teacher " + teacher + " is ONNX value '" + value
                        + "' in the export, and " + SETTING + " fetches taps by layer name" + USE_DL4J);
            }
        }
        byte[] model = OnnxGraph.parse(exported.model().toByteArray(), teacher).withOutputs(OnnxTeacherInference.fetched(OnnxExport.LOGITS, taps));
        OnnxTeacher input = OnnxTeacher.forExport(shape);
        return new Prepared(model, input, check(graph, model, input, shape, taps, teacher, checkImages));
    }

    /**
     * Runs {@code images} through DL4J and ONNX Runtime and compares the logits and each tapped layer
     * (before any tap transform): the largest |difference| divided by max(1, largest |DL4J value|)
     * must stay within {@value #TOLERANCE}. Returns a one-line summary for the manifest.
     */
    static String check(ComputationGraph graph, byte[] model, OnnxTeacher input, ImageShape shape, List<TeacherInference.Tap> taps,
                        String teacher, List<byte[]> images) {
        if (images.isEmpty()) {
            throw new IllegalArgumentException("no images to check the ONNX export of teacher " + teacher + " on");
        }
        int n = images.size();
        int pixels = shape.pixelCount();
        float[] chw = new float[n * pixels];
        float[] fed = new float[n * pixels];
        for (int i = 0; i < n; i++) {
            ExamplesTable.toChw(images.get(i), shape, chw, i * pixels);
            input.fill(images.get(i), fed, i * pixels);
        }
        Map<String, INDArray> dl4j = graph.feedForward(Nd4j.create(chw, new long[]{n, shape.channels(), shape.height(), shape.width()}, 'c'), false);
        List<String> fetched = OnnxTeacherInference.fetched(OnnxExport.LOGITS, taps);
        Map<String, OnnxModels.Runner.Tensor> ort;
        try (OnnxModels.Runner runner = OnnxModels.open(model, 1)) {
            ort = input.run(runner, fed, n, fetched);
        }
        Map<String, Double> errors = new LinkedHashMap<>();
        for (String name : fetched) {
            float[] expected = TeacherInference.flat(dl4j.get(name));
            float[] got = ort.get(name).data();
            if (expected.length != got.length) {
                throw new IllegalStateException("ONNX export of teacher " + teacher + ": '" + name + "' has " + got.length + " values in ONNX Runtime, "
                        + expected.length + " in DL4J");
            }
            double scale = 1;
            double diff = 0;
            for (int i = 0; i < expected.length; i++) {
                scale = Math.max(scale, Math.abs(expected[i]));
                diff = Math.max(diff, Math.abs(expected[i] - got[i]));
            }
            errors.put(name, diff / scale);
        }
        List<String> parts = new ArrayList<>();
        errors.forEach((name, e) -> parts.add(name + " " + String.format("%.1e", e)));
        String summary = "ONNX Runtime against DL4J on " + n + " examples, max |difference| / max(1, max |value|): " + String.join(", ", parts);
        if (errors.values().stream().anyMatch(e -> !(e <= TOLERANCE))) {
            throw new BadInputException(SETTING + ": the ONNX export of teacher " + teacher + " disagrees with DL4J beyond " + TOLERANCE + " ("
                    + summary + ")" + USE_DL4J);
        }
        return summary;
    }
}
