package io.distillery.jobs.cli;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import picocli.CommandLine.Option;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

/** The options every stage command shares. */
public class PipelineOptions {
    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "Pipeline config (HOCON). Defaults are built in.")
    File config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override one config key, e.g. --set distill.train.epochs=3. Repeatable.")
    List<String> sets = new ArrayList<>();

    @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: spark-submit's, else spark.master in the config: local[*]).")
    String master;

    @Option(names = "--force", description = "Replace outputs that exist with different provenance.")
    boolean force;

    @Option(names = "--resume", description = "Continue an interrupted training stage from its last checkpoint.")
    boolean resume;

    @Option(names = "--no-preflight", description = "On a cluster master, skip the checks of 'distill preflight' that run before the first stage.")
    boolean noPreflight;

    PipelineConfig load(String builtInResource) {
        return ConfigLoader.load(config, builtInResource, sets);
    }
}
