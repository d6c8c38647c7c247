package io.distillery.jobs.compare;

import java.util.Locale;

/** The comparison as a Markdown table: one line per row, accuracy as mean ± sample standard deviation over seeds. */
public final class ComparisonTable {
    private ComparisonTable() {
    }

    public static String markdown(MethodComparison.Result r) {
        StringBuilder b = new StringBuilder();
        b.append("## ").append(r.title()).append("\n\n");
        b.append(String.format(Locale.ROOT, "%s: %,d training and %,d test images; seeds %s. Test accuracy of the epoch kept by validation"
                + " accuracy, mean ± sample standard deviation over seeds; Δ: difference of means from the student alone.%n%n",
                r.dataset(), r.trainingExamples(), r.testExamples(), r.seeds()));
        b.append("| row | test accuracy (%) | Δ vs student alone | kept epoch / epochs | validation at kept / last epoch (%)"
                + " | s per epoch | parameters | teacher-output bytes read |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        // The student alone: row "student-alone", else the first whose id starts so ("student-alone-augmented").
        MethodComparison.RowResult alone = r.rows().stream().filter(x -> x.id().equals("student-alone")).findFirst()
                .or(() -> r.rows().stream().filter(x -> x.id().startsWith("student-alone")).findFirst()).orElse(null);
        for (MethodComparison.RowResult row : r.rows()) {
            boolean teacher = row.id().equals("teacher") || row.id().startsWith("teacher-") || row.id().equals("ensemble");
            var s = row.seeds();
            String delta = alone == null || teacher || row == alone ? "" : String.format(Locale.ROOT, "%+.2f", 100 * (row.testAccuracyMean() - alone.testAccuracyMean()));
            b.append(String.format(Locale.ROOT, "| %s | %.2f%s | %s | %s | %s | %s | %,d | %s |%n",
                    row.name(),
                    100 * row.testAccuracyMean(), (s.size() > 1 ? String.format(Locale.ROOT, " ± %.2f", 100 * row.testAccuracyStd()) : "")
                            + (!teacher && s.size() != r.seeds().size() ? " (" + s.size() + " seeds)" : ""),
                    delta,
                    teacher ? "" : String.format(Locale.ROOT, "%.1f / %.0f", s.stream().mapToInt(MethodComparison.SeedResult::selectedEpoch).average().orElse(0),
                            s.stream().mapToInt(MethodComparison.SeedResult::epochs).average().orElse(0)),
                    teacher ? "" : String.format(Locale.ROOT, "%.2f / %.2f", 100 * s.stream().mapToDouble(MethodComparison.SeedResult::bestValidation).average().orElse(0),
                            100 * s.stream().mapToDouble(MethodComparison.SeedResult::lastValidation).average().orElse(0)),
                    teacher ? "" : String.format(Locale.ROOT, "%.1f", s.stream().mapToDouble(MethodComparison.SeedResult::secondsPerEpoch).average().orElse(0)),
                    s.get(0).parameters(),
                    teacher ? "" : megabytes(s.get(0).teacherBytes())));
        }
        return b.toString();
    }

    private static String megabytes(long bytes) {
        return bytes == 0 ? "0" : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }
}
