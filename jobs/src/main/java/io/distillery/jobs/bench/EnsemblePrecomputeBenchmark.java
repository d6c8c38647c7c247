package io.distillery.jobs.bench;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import io.distillery.jobs.stages.PrecomputeStage;
import io.distillery.jobs.stages.StageContext;
import io.distillery.jobs.stages.TeacherStage;
import io.distillery.prep.PrepJob;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.Manifest;
import org.apache.spark.sql.SparkSession;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The ensemble precompute against single-teacher precomputes of the same teachers, side by side in
 * one JVM on the same examples (run by {@code bench/ensembles.sh}): each member alone, then the
 * ensemble job, each forced to recompute, timed as wall seconds around the stage. Prints a Markdown
 * table (also written to {@code reports/ensemble-precompute.md}): per teacher its single-teacher
 * seconds against its part of the ensemble job (the job's seconds split by the teachers' shares of
 * the inference seconds measured inside its tasks), with the ratio (goal: at most 1.1), and the
 * whole job against the sum of the single jobs.
 */
public final class EnsemblePrecomputeBenchmark {
    private EnsemblePrecomputeBenchmark() {
    }

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: EnsemblePrecomputeBenchmark PIPELINE.conf [key=value...]");
            System.exit(2);
        }
        Nd4jRuntime.configure();
        PipelineConfig config = ConfigLoader.load(new File(args[0]), null, Arrays.asList(args).subList(1, args.length));
        if (!config.ensemble()) {
            System.err.println("EnsemblePrecomputeBenchmark: " + args[0] + " has no 'teachers' ensemble");
            System.exit(2);
        }
        SparkSession spark = SparkRuntime.session(config.spark(), null);
        try {
            StageContext ctx = StageContext.of(spark, config, false, false);
            PrepJob.run(spark, ctx.storage(), config, ctx.layout().examples(), false);
            TeacherStage.run(ctx);
            List<Double> single = new ArrayList<>();
            for (PipelineConfig.TeacherSettings member : config.members()) {
                // The member as the pipeline's one teacher: teachers/NAME is the ensemble's own import.
                PipelineConfig alone = new PipelineConfig(config.raw(), config.runDir(), config.spark(), config.data(), member, List.of(),
                        config.precompute(), config.student(), config.distill(), config.evaluate(), config.augmentation());
                single.add(timed(() -> PrecomputeStage.run(StageContext.of(spark, alone, true, false))));
            }
            StageContext forced = StageContext.of(spark, config, true, false);
            Manifest[] ensemble = new Manifest[1];
            double ensembleSeconds = timed(() -> ensemble[0] = PrecomputeStage.run(forced));
            String table = table(config, single, ensembleSeconds, ensemble[0]);
            System.out.println(table);
            ctx.storage().writeString(Storage.join(ctx.layout().reports(), "ensemble-precompute.md"), table);
        } finally {
            spark.stop();
        }
    }

    private static double timed(Runnable stage) {
        long start = System.nanoTime();
        stage.run();
        return (System.nanoTime() - start) / 1e9;
    }

    @SuppressWarnings("unchecked")
    static String table(PipelineConfig config, List<Double> single, double ensembleSeconds, Manifest ensemble) {
        int k = single.size();
        List<Map<String, Object>> members = ensemble.property("members");
        StringBuilder b = new StringBuilder();
        b.append(String.format("Precompute of %,d rows (%s, taps %s): each teacher alone, then all %d in one ensemble job; wall seconds"
                + " around the stage in one JVM, %s.%n%n", ensemble.rows(), config.precompute().splits(), config.precompute().taps(), k,
                config.spark().master()));
        b.append("| teacher | alone (s) | its part of the ensemble job (s) | ratio | inference inside the ensemble's tasks (s) |\n");
        b.append("|---|---:|---:|---:|---:|\n");
        double inference = members.stream().mapToDouble(m -> ((Number) m.get("inference_seconds")).doubleValue()).sum();
        for (int i = 0; i < k; i++) {
            Map<String, Object> m = members.get(i);
            double own = ((Number) m.get("inference_seconds")).doubleValue();
            double part = ensembleSeconds * own / inference;
            b.append(String.format("| %s | %.1f | %.1f | %.2f | %.1f |%n", m.get("name"), single.get(i), part, part / single.get(i), own));
        }
        double sum = single.stream().mapToDouble(Double::doubleValue).sum();
        b.append(String.format("| all %d | %.1f (sum) | %.1f (job) | %.2f | |%n", k, sum, ensembleSeconds, ensembleSeconds / sum));
        return b.toString();
    }
}
