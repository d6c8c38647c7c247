package io.distillery.jobs.stages;

import io.distillery.errors.BadInputException;
import io.distillery.method.LabelSource;
import io.distillery.runtime.SparkRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.apache.spark.sql.functions.col;

/**
 * Checks before training that teacher outputs and examples describe the same images: every training
 * id has outputs, every output id is an example, every stored row decodes (top-k logits: class
 * indices in range and distinct) and every stored value is finite. Missing ids are
 * an error, never silently dropped by the join.
 */
final class TeacherCoverage {
    private static final int SHOW = 5;

    private TeacherCoverage() {
    }

    static void check(StageContext ctx, String outputsDir, List<LabelSource> labels, Dataset<Row> joinedTrain) {
        Dataset<Row> examples = ctx.table(ctx.layout().examples());
        Dataset<Row> trainIds = examples.filter(col(ExamplesTable.SPLIT).equalTo("train")).select(ExamplesTable.ID);
        // Plain tables hold view 0 of each example; tables of stored views hold views 1..K (precompute verified K per id).
        int firstView = TeacherOutputsTable.storedViews(Manifest.read(ctx.storage(), outputsDir)) > 0 ? 1 : 0;
        Dataset<Row> outputIds = ctx.table(outputsDir).filter(col(TeacherOutputsTable.VIEW).equalTo(firstView)).select(TeacherOutputsTable.ID);
        SparkRuntime.described(ctx.spark(), "distill: check teacher outputs cover the examples", () -> {
            Dataset<Row> uncovered = trainIds.join(outputIds, trainIds.col(ExamplesTable.ID).equalTo(outputIds.col(TeacherOutputsTable.ID)), "left_anti");
            long missing = uncovered.count();
            if (missing > 0) {
                throw new BadInputException("teacher outputs " + outputsDir + " lack " + missing + " training example ids (e.g. "
                        + sample(uncovered) + "); re-run precompute over the current examples table");
            }
            Dataset<Row> allIds = examples.select(ExamplesTable.ID);
            Dataset<Row> orphans = outputIds.join(allIds, outputIds.col(TeacherOutputsTable.ID).equalTo(allIds.col(ExamplesTable.ID)), "left_anti");
            long extra = orphans.count();
            if (extra > 0) {
                throw new BadInputException("teacher outputs " + outputsDir + " hold " + extra + " ids that are not in the examples table (e.g. "
                        + sample(orphans) + "); they were computed for other data");
            }
            return null;
        });
        List<LabelSource.TeacherColumn> columns = new ArrayList<>();
        labels.forEach(l -> l.teacherColumns().stream().filter(c -> !columns.contains(c)).forEach(columns::add));
        String problem = SparkRuntime.described(ctx.spark(), "distill: check teacher outputs are finite", () ->
                joinedTrain.javaRDD().mapPartitions((Iterator<Row> rows) -> {
                    List<String> found = new ArrayList<>();
                    while (rows.hasNext() && found.isEmpty()) {
                        String p = problem(rows.next(), columns);
                        if (p != null) {
                            found.add(p);
                        }
                    }
                    return found.iterator();
                }).take(1).stream().findFirst().orElse(null));
        if (problem != null) {
            throw new BadInputException("teacher outputs " + outputsDir + ": " + problem);
        }
    }

    /**
     * What is wrong with one joined row's teacher columns, as the tail of a one-line error naming the
     * column and id, or null when every column decodes (a top-k row: k distinct class indices in
     * range) to finite values.
     */
    static String problem(Row row, List<LabelSource.TeacherColumn> columns) {
        for (LabelSource.TeacherColumn c : columns) {
            float[] values = new float[c.width()];
            try {
                c.encoding().decodeRow(row.getAs(c.column()), c.width(), values, null, 0);
            } catch (IllegalArgumentException e) {
                return "column '" + c.column() + "' of id " + row.getAs(ExamplesTable.ID) + " cannot be decoded: " + e.getMessage()
                        + "; re-run precompute";
            }
            int bad = TensorEncoding.firstNonFinite(values);
            if (bad >= 0) {
                return "column '" + c.column() + "' of id " + row.getAs(ExamplesTable.ID) + " holds " + values[bad]
                        + " at element " + bad + "; teacher outputs must be finite";
            }
        }
        return null;
    }

    private static String sample(Dataset<Row> ids) {
        return ids.limit(SHOW).collectAsList().stream().map(r -> String.valueOf(r.getLong(0))).toList().toString();
    }
}
