package io.distillery.jobs.report;

import io.distillery.runtime.Storage;
import io.distillery.table.Json;
import io.distillery.train.EpochMetrics;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/** Writes {@code report.json}, {@code report.md} (the table the demo prints) and PNG training curves into a directory. */
public final class ReportWriter {
    private ReportWriter() {
    }

    public static void write(Storage storage, String dir, Report report, Map<String, List<EpochMetrics>> curves) {
        storage.writeString(Storage.join(dir, "report.json"), Json.pretty(report));
        storage.writeString(Storage.join(dir, "report.md"), markdown(report));
        System.setProperty("java.awt.headless", "true");
        png(storage, Storage.join(dir, "validation-accuracy.png"),
                chart("Validation accuracy by epoch", "accuracy", curves, EpochMetrics::validationAccuracy));
        png(storage, Storage.join(dir, "train-score.png"),
                chart("Training loss (DL4J score, all heads) by epoch", "score", curves, EpochMetrics::trainScore));
        List<EpochMetrics> student = curves.get("student");
        if (student != null && !student.isEmpty()) {
            XYChart heads = new XYChartBuilder().width(800).height(500).title("Student: weighted loss of each head (training sample)")
                    .xAxisTitle("epoch").yAxisTitle("loss").build();
            for (String head : student.get(0).loss().keySet()) {
                heads.addSeries(head, series(student, m -> m.epoch()), series(student, m -> m.loss().getOrDefault(head, Double.NaN)))
                        .setMarker(SeriesMarkers.CIRCLE);
            }
            png(storage, Storage.join(dir, "student-loss-terms.png"), heads);
        }
    }

    public static String markdown(Report r) {
        StringBuilder b = new StringBuilder();
        List<Integer> batches = r.models().isEmpty() ? List.of() : List.copyOf(r.models().get(0).imagesPerSecond().keySet());
        b.append("| model | name | test top-1 | parameters | model file (bytes) |");
        batches.forEach(x -> b.append(" images/s @").append(x).append(" |"));
        b.append(" epochs | train s |\n|---|---|---:|---:|---:|");
        batches.forEach(x -> b.append("---:|"));
        b.append("---:|---:|\n");
        for (Report.ModelResult m : r.models()) {
            b.append(String.format("| %s | %s | %.2f%% | %,d | %,d |", m.role(), m.name(), 100 * m.testAccuracy(), m.parameters(), m.modelBytes()));
            batches.forEach(x -> b.append(String.format(" %,.0f |", m.imagesPerSecond().getOrDefault(x, Double.NaN))));
            // A model with no training curve was imported (the demo's shipped teacher), not trained in this run.
            b.append(m.role().equals(Report.ENSEMBLE) ? " – | – |\n" : m.epochs() == 0 ? " imported | – |\n" : String.format(" %d | %.0f |%n", m.epochs(), m.trainSeconds()));
        }
        b.append('\n');
        Map<String, Object> c = r.comparison();
        if (c.containsKey("student_minus_teacher_points")) {
            b.append(String.format("Student vs teacher: %+.2f points with %.1fx fewer parameters.%n",
                    (Double) c.get("student_minus_teacher_points"), (Double) c.get("parameter_ratio_teacher_over_student")));
        }
        if (c.containsKey("student_minus_baseline_points")) {
            b.append(String.format("Student vs baseline (same architecture, no teacher): %+.2f points.%n", (Double) c.get("student_minus_baseline_points")));
        }
        if (c.get("onnx_minus_dl4j_correct_test_images") instanceof Map<?, ?> onnx) {
            List<String> parts = new ArrayList<>();
            onnx.forEach((model, diff) -> parts.add(model + (((Number) diff).longValue() == 0 ? ": same accuracy"
                    : String.format(": %+d correct test images", ((Number) diff).longValue()))));
            b.append("ONNX exports in ONNX Runtime against DL4J: ").append(String.join("; ", parts)).append(".\n");
        }
        if (!r.models().isEmpty()) {
            b.append(String.format("Inference images/s: output() in one JVM with %d ND4J threads, after warm-up, all models in the same run.%n",
                    r.models().get(0).threads()));
        }
        b.append(String.format("Test images: %,d. Dataset %s (%s).%n", r.models().isEmpty() ? 0 : r.models().get(0).testImages(),
                r.dataset(), r.examplesHash()));
        return b.toString();
    }

    private static XYChart chart(String title, String yTitle, Map<String, List<EpochMetrics>> curves, ToDoubleFunction<EpochMetrics> y) {
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle("epoch").yAxisTitle(yTitle).build();
        curves.forEach((role, metrics) -> {
            if (!metrics.isEmpty()) {
                chart.addSeries(role, series(metrics, m -> m.epoch()), series(metrics, y)).setMarker(SeriesMarkers.CIRCLE);
            }
        });
        if (chart.getSeriesMap().isEmpty()) {
            chart.addSeries("no training curves (imported models)", new double[]{0}, new double[]{0});
        }
        return chart;
    }

    private static double[] series(List<EpochMetrics> metrics, ToDoubleFunction<EpochMetrics> f) {
        return metrics.stream().mapToDouble(f).toArray();
    }

    private static void png(Storage storage, String path, XYChart chart) {
        try {
            storage.writeBytes(path, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render " + path, e);
        }
    }
}
