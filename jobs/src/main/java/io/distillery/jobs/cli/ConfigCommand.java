package io.distillery.jobs.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** {@code distill config}: validates a pipeline file (and --set overrides) without Spark and prints it resolved. */
@Command(name = "config", mixinStandardHelpOptions = true,
        description = "Check a pipeline config (unknown keys and bad values are rejected) and print it with every default filled in.")
final class ConfigCommand implements Callable<Integer> {
    @Mixin
    PipelineOptions options;

    @Override
    public Integer call() {
        System.out.println("distillery " + options.load(null).render());
        return 0;
    }
}
