package io.distillery.jobs.cli;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import io.distillery.jobs.preflight.Check;
import io.distillery.jobs.preflight.Preflight;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code distill preflight}: the checks of {@link Preflight}, one line each; exit status 2 when any is a problem. */
@Command(name = "preflight", mixinStandardHelpOptions = true,
        description = {"Check what trips up a first cluster run, one line per check: Spark, Scala and DL4J versions against this build,",
                "ND4J's native library on the executors, the Kryo registrator, executor memory against ND4J's off-heap limits,",
                "and run-dir written and read from the executors. Exit status 0 when all are ok, 2 when any is a problem."})
final class PreflightCommand implements Callable<Integer> {
    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "Pipeline config (HOCON): its run-dir and spark settings are checked.")
    File config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override one config key. Repeatable.")
    List<String> sets = new ArrayList<>();

    @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: spark-submit's, else spark.master in the config).")
    String master;

    @Override
    public Integer call() {
        PipelineConfig pipeline = ConfigLoader.load(config, null, sets);
        SparkSession spark = SparkRuntime.session(pipeline.spark(), master);
        List<Check> checks;
        try {
            checks = Preflight.run(spark, new Storage(spark.sparkContext().hadoopConfiguration()), pipeline.runDir());
        } finally {
            spark.stop();
        }
        checks.forEach(c -> System.out.println(c.line()));
        return Preflight.anyProblem(checks) ? DistillCli.BAD_INPUT : 0;
    }
}
