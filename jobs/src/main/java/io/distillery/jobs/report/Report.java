package io.distillery.jobs.report;

import io.distillery.config.PipelineConfig;
import io.distillery.runtime.BuildInfo;
import io.distillery.table.Manifest;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code reports/report.json}: every measured number of one evaluation, and the config that produced it. */
public record Report(String dataset, String examplesHash, List<ModelResult> models, Map<String, Object> comparison,
                     String config, String codeVersion, String createdAt) {

    /**
     * @param imagesPerSecond inference throughput of {@code output()} in one JVM, keyed by batch size
     * @param threads         ND4J threads used for that timing
     * @param methods         the distillation heads the model was trained with (null for imports)
     */
    public record ModelResult(String role, String name, double testAccuracy, long testImages, long parameters, long modelBytes,
                              Map<Integer, Double> imagesPerSecond, int threads, int epochs, double trainSeconds, Object methods) {
    }

    /** Role of an ensemble's row: its members' mean softmax, evaluated as one classifier. */
    public static final String ENSEMBLE = "ensemble";
    /** Suffix of the role of a DL4J model's ONNX export evaluated in ONNX Runtime (evaluate.onnx). */
    public static final String ONNX_RUNTIME = " (ONNX Runtime)";

    public static Report of(Manifest examples, PipelineConfig config, List<ModelResult> models) {
        return new Report((String) examples.properties().get("dataset"), examples.contentHash(), models, compare(models),
                config.render(), BuildInfo.version(), Instant.now().toString());
    }

    public ModelResult model(String role) {
        return models.stream().filter(m -> m.role().equals(role)).findFirst().orElse(null);
    }

    private static Map<String, Object> compare(List<ModelResult> models) {
        Map<String, Object> c = new LinkedHashMap<>();
        // With an ensemble the student is compared with the ensemble it learnt from (the members have rows too).
        ModelResult teacher = find(models, ENSEMBLE) != null ? find(models, ENSEMBLE) : find(models, "teacher");
        ModelResult student = find(models, "student");
        ModelResult baseline = find(models, "baseline");
        if (teacher != null && student != null) {
            c.put("student_minus_teacher_points", 100 * (student.testAccuracy() - teacher.testAccuracy()));
            c.put("parameter_ratio_teacher_over_student", (double) teacher.parameters() / student.parameters());
            Map<Integer, Double> speedup = new LinkedHashMap<>();
            student.imagesPerSecond().forEach((b, s) -> {
                Double t = teacher.imagesPerSecond().get(b);
                if (t != null && t > 0) {
                    speedup.put(b, s / t);
                }
            });
            c.put("speedup_student_over_teacher_by_batch", speedup);
        }
        if (baseline != null && student != null) {
            c.put("student_minus_baseline_points", 100 * (student.testAccuracy() - baseline.testAccuracy()));
        }
        // evaluate.onnx: test images the ONNX export gets right minus those DL4J gets right, per exported row (0 = reproduced exactly).
        Map<String, Long> onnx = new LinkedHashMap<>();
        for (int i = 1; i < models.size(); i++) {
            ModelResult m = models.get(i);
            ModelResult source = models.get(i - 1);
            if (m.role().equals(source.role() + ONNX_RUNTIME) && m.name().equals(source.name())) {
                onnx.put(source.role() + " " + source.name(), correct(m) - correct(source));
            }
        }
        if (!onnx.isEmpty()) {
            c.put("onnx_minus_dl4j_correct_test_images", onnx);
        }
        return c;
    }

    private static long correct(ModelResult m) {
        return Math.round(m.testAccuracy() * m.testImages());
    }

    private static ModelResult find(List<ModelResult> models, String role) {
        return models.stream().filter(m -> m.role().equals(role)).findFirst().orElse(null);
    }
}
