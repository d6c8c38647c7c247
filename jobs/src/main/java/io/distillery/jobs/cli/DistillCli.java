package io.distillery.jobs.cli;

import io.distillery.config.PipelineConfig;
import io.distillery.errors.BadInputException;
import io.distillery.jobs.report.ReportWriter;
import io.distillery.jobs.stages.EvaluateStage;
import io.distillery.jobs.stages.Pipeline;
import io.distillery.jobs.stages.PrecomputeStage;
import io.distillery.jobs.stages.TeacherStage;
import io.distillery.jobs.stages.TrainStage;
import io.distillery.prep.PrepJob;
import io.distillery.runtime.BuildInfo;
import io.distillery.runtime.Nd4jRuntime;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * {@code bin/distill}: one command per pipeline stage, plus the whole pipeline, the demo and a
 * table inspector. Also the main class of the Spark fat jar, so {@code spark-submit} runs the same
 * commands on a cluster.
 */
@Command(name = "distill", mixinStandardHelpOptions = true, versionProvider = DistillCli.Version.class,
        description = "Knowledge distillation of image classifiers on Apache Spark.",
        subcommands = {DistillCli.Prep.class, DistillCli.Teacher.class, DistillCli.Precompute.class, DistillCli.Distill.class,
                DistillCli.Evaluate.class, DistillCli.PipelineCommand.class, DemoCommand.class, InspectCommand.class})
public final class DistillCli implements Runnable {
    public static final int BAD_INPUT = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    public static int execute(String... args) {
        Nd4jRuntime.configure();
        return new CommandLine(new DistillCli()).setExecutionExceptionHandler(DistillCli::handle).execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Bad input: one line and exit status 2. Anything else is a bug: its stack trace and status 1. */
    static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        PrintWriter err = cmd.getErr();
        String userError = BadInputException.find(e);
        if (userError != null) {
            err.println("distill " + cmd.getCommandName() + ": error: " + userError);
            err.flush();
            return BAD_INPUT;
        }
        e.printStackTrace(err);
        err.flush();
        return 1;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[]{"distillery " + BuildInfo.version()};
        }
    }

    @Command(name = "prep", mixinStandardHelpOptions = true, description = "Read a raw dataset (idx, CIFAR binary, image folder) into the examples table.")
    static final class Prep implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        @Override
        public Integer call() {
            PipelineConfig config = options.load(null);
            StageRunner.run(options, config, ctx -> PrepJob.run(ctx.spark(), ctx.storage(), config, ctx.layout().examples(), options.force));
            return 0;
        }
    }

    @Command(name = "teacher", mixinStandardHelpOptions = true, description = "Train the teacher with parameter averaging, or import a DL4J model zip (teacher.import).")
    static final class Teacher implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        @Override
        public Integer call() {
            StageRunner.run(options, options.load(null), TeacherStage::run);
            return 0;
        }
    }

    @Command(name = "precompute", mixinStandardHelpOptions = true, description = "Run the teacher once over the examples; store logits and taps in Parquet.")
    static final class Precompute implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        @Override
        public Integer call() {
            StageRunner.run(options, options.load(null), PrecomputeStage::run);
            return 0;
        }
    }

    @Command(name = "distill", mixinStandardHelpOptions = true, description = "Train the student from the examples and the stored teacher outputs.")
    static final class Distill implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        @CommandLine.Option(names = "--baseline", description = "Train the student architecture on labels alone instead (same epochs, seed, data).")
        boolean baseline;

        @Override
        public Integer call() {
            StageRunner.run(options, options.load(null), ctx -> baseline ? Pipeline.baseline(ctx) : Pipeline.student(ctx));
            return 0;
        }
    }

    @Command(name = "evaluate", mixinStandardHelpOptions = true, description = "Compare teacher, student and baseline on the test split; write reports/.")
    static final class Evaluate implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        @Override
        public Integer call() {
            var report = StageRunner.run(options, options.load(null), EvaluateStage::run);
            System.out.println(ReportWriter.markdown(report));
            return 0;
        }
    }

    @Command(name = "pipeline", mixinStandardHelpOptions = true, description = "Run prep, teacher, precompute, distill, baseline and evaluate; finished stages are skipped.")
    static final class PipelineCommand implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        @Override
        public Integer call() {
            var report = StageRunner.run(options, options.load(null), Pipeline::all);
            System.out.println(ReportWriter.markdown(report));
            return 0;
        }
    }

    /** Kept for symmetry with the stage classes; training lives in {@link TrainStage}. */
    private DistillCli() {
    }
}
