package io.distillery.jobs.cli;

import io.distillery.errors.BadInputException;
import io.distillery.jobs.report.ReportWriter;
import io.distillery.jobs.stages.EvaluateStage;
import io.distillery.jobs.stages.Pipeline;
import io.distillery.jobs.stages.PrecomputeStage;
import io.distillery.jobs.stages.TeacherStage;
import io.distillery.jobs.stages.StageContext;
import io.distillery.jobs.report.Report;
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
                DistillCli.Evaluate.class, ExportCommand.class, DistillCli.PipelineCommand.class, DemoCommand.class, CompareCommand.class, InspectCommand.class, ConfigCommand.class, PreflightCommand.class})
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

    /** A stage command: load the pipeline config, start Spark, run the stage, stop Spark. */
    abstract static class StageCommand implements Callable<Integer> {
        @Mixin
        PipelineOptions options;

        abstract Object run(StageContext ctx);

        @Override
        public Integer call() {
            Object result = StageRunner.run(getClass().getAnnotation(Command.class).name(), options, options.load(null), this::run);
            if (result instanceof Report report) {
                System.out.println(ReportWriter.markdown(report));
            }
            return 0;
        }
    }

    @Command(name = "prep", mixinStandardHelpOptions = true, description = "Read a raw dataset (idx, CIFAR binary, image folder) into the examples table.")
    static final class Prep extends StageCommand {
        @Override
        Object run(StageContext ctx) {
            return PrepJob.run(ctx.spark(), ctx.storage(), ctx.config(), ctx.layout().examples(), ctx.force());
        }
    }

    @Command(name = "teacher", mixinStandardHelpOptions = true, description = "Train the teacher with parameter averaging, or import a DL4J model zip (teacher.import).")
    static final class Teacher extends StageCommand {
        @Override
        Object run(StageContext ctx) {
            return TeacherStage.run(ctx);
        }
    }

    @Command(name = "precompute", mixinStandardHelpOptions = true, description = "Run the teacher once over the examples; store logits and taps in Parquet.")
    static final class Precompute extends StageCommand {
        @Override
        Object run(StageContext ctx) {
            return PrecomputeStage.run(ctx);
        }
    }

    @Command(name = "distill", mixinStandardHelpOptions = true, description = "Train the student from the examples and the stored teacher outputs.")
    static final class Distill extends StageCommand {
        @CommandLine.Option(names = "--baseline", description = "Train the student architecture on labels alone instead (same epochs, seed, data).")
        boolean baseline;

        @Override
        Object run(StageContext ctx) {
            return baseline ? Pipeline.baseline(ctx) : Pipeline.student(ctx);
        }
    }

    @Command(name = "evaluate", mixinStandardHelpOptions = true, description = "Compare teacher, student and baseline on the test split; write reports/.")
    static final class Evaluate extends StageCommand {
        @Override
        Object run(StageContext ctx) {
            return EvaluateStage.run(ctx);
        }
    }

    @Command(name = "pipeline", mixinStandardHelpOptions = true, description = "Run prep, teacher, precompute, distill, baseline and evaluate; finished stages are skipped.")
    static final class PipelineCommand extends StageCommand {
        @Override
        Object run(StageContext ctx) {
            return Pipeline.all(ctx);
        }
    }

    private DistillCli() {
    }
}
