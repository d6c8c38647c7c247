package io.distillery.jobs.cli;

import io.distillery.config.PipelineConfig;
import io.distillery.jobs.preflight.Preflight;
import io.distillery.jobs.compare.ComparisonPlan;
import io.distillery.jobs.compare.ComparisonTable;
import io.distillery.jobs.compare.MethodComparison;
import io.distillery.runtime.SparkRuntime;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.File;
import java.util.concurrent.Callable;

/** {@code distill compare}: the rows of a comparison plan over one pipeline, each over several seeds. */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Train one student per row of a comparison plan and seed on the same teacher outputs; write reports/methods.md and methods.json.")
final class CompareCommand implements Callable<Integer> {
    @Mixin
    PipelineOptions options;

    @Option(names = "--plan", required = true, paramLabel = "FILE", description = "Comparison plan (HOCON: compare.seeds, compare.rows), e.g. bench/methods.conf.")
    File plan;

    @Override
    public Integer call() throws Exception {
        ComparisonPlan p = ComparisonPlan.load(plan);
        PipelineConfig config = options.load(null);
        MethodComparison.Result result;
        try (RunLock lock = StageRunner.lock("compare", config)) {
            SparkSession spark = SparkRuntime.session(config.spark(), options.master);
            try {
                if (!options.noPreflight) {
                    Preflight.beforeStages(spark, config);
                }
                result = MethodComparison.run(spark, options.config, options.sets, p);
            } finally {
                spark.stop();
            }
        }
        System.out.println();
        System.out.println(ComparisonTable.markdown(result));
        return 0;
    }
}
