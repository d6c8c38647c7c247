package io.distillery.jobs.cli;

import io.distillery.config.PipelineConfig;
import io.distillery.errors.BadInputException;
import io.distillery.jobs.report.ReportWriter;
import io.distillery.jobs.stages.Pipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * The demo: the whole pipeline on Fashion-MNIST in Spark local mode with a built-in config
 * ({@value #CONFIG}) and a shipped teacher, then the report table.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the whole pipeline on Fashion-MNIST in local mode (about 12 minutes on 2 cores) and print the report.")
final class DemoCommand implements Callable<Integer> {
    static final String CONFIG = "demo/fashion-mnist.conf";

    @Mixin
    PipelineOptions options;

    @Override
    public Integer call() {
        PipelineConfig config = options.load(CONFIG);
        String path = config.data().path();
        if (!path.contains("://") && !Files.isDirectory(Path.of(path))) {
            throw new BadInputException("Fashion-MNIST not found at " + path + "; install it with: sudo apt-get install dataset-fashion-mnist"
                    + " (or point --set data.path=DIR at a folder holding its four idx .gz files)");
        }
        var report = StageRunner.run("demo", options, config, Pipeline::all);
        System.out.println();
        System.out.println(ReportWriter.markdown(report));
        System.out.println("Report, plots and tables: " + config.runDir());
        return 0;
    }
}
