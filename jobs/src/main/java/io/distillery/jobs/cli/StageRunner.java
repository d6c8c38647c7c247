package io.distillery.jobs.cli;

import io.distillery.config.PipelineConfig;
import io.distillery.jobs.preflight.Preflight;
import io.distillery.jobs.stages.StageContext;
import io.distillery.runtime.SparkRuntime;
import org.apache.spark.sql.SparkSession;

import java.util.function.Function;

/** Starts Spark for a command, runs its stages, and stops Spark whatever happens. */
final class StageRunner {
    private StageRunner() {
    }

    static <T> T run(PipelineOptions options, PipelineConfig config, Function<StageContext, T> stages) {
        SparkSession spark = SparkRuntime.session(config.spark(), options.master);
        try {
            if (!options.noPreflight) {
                Preflight.beforeStages(spark, config);
            }
            return stages.apply(StageContext.of(spark, config, options.force, options.resume));
        } finally {
            spark.stop();
        }
    }
}
