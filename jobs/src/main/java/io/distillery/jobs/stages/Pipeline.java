package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig;
import io.distillery.jobs.report.Report;
import io.distillery.method.StudentGraphs;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import org.deeplearning4j.nn.graph.ComputationGraph;
import io.distillery.prep.PrepJob;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;

import java.util.Map;

/** The stages in order; each skips itself when its output is already up to date. */
public final class Pipeline {
    private Pipeline() {
    }

    public static Report all(StageContext ctx) {
        PrepJob.run(ctx.spark(), ctx.storage(), ctx.config(), ctx.layout().examples(), ctx.force());
        TeacherStage.run(ctx);
        PrecomputeStage.run(ctx);
        student(ctx);
        baseline(ctx);
        return EvaluateStage.run(ctx);
    }

    /** The distilled student: the configured methods over the stored teacher outputs. */
    public static Manifest student(StageContext ctx) {
        PipelineConfig c = ctx.config();
        int classes = classes(ctx);
        return TrainStage.run(ctx, new TrainStage.Job("student", c.student().name(), ctx.layout().student(), c.student().model(),
                c.distill().train(), StudentGraphs.methods(c.distill(), classes, () -> teacherModel(ctx)), ctx.layout().teacherOutputs(),
                Map.of("teacher", c.teacher().name()), c.distill().schedule()));
    }

    /** The same architecture, epochs, seed and data as the student, trained on labels alone. */
    public static Manifest baseline(StageContext ctx) {
        PipelineConfig c = ctx.config();
        return TrainStage.run(ctx, new TrainStage.Job("baseline", c.student().name() + "-baseline", ctx.layout().baseline(),
                c.student().model(), c.distill().train(), StudentGraphs.labelsOnly(classes(ctx)), null, Map.of()));
    }

    /** The teacher's DL4J graph, for methods that run parts of it inside the student (KDFM's shared classifier). */
    private static ComputationGraph teacherModel(StageContext ctx) {
        Manifest teacher = ctx.require(ctx.layout().teacher(), "teacher");
        if (PrecomputeStage.isOnnx(teacher)) {
            throw new io.distillery.errors.BadInputException("teacher " + ctx.config().teacher().name() + " is an imported ONNX model: a method that runs"
                    + " the teacher's DL4J layers inside the student (KDFM's shared classifier) needs a DL4J teacher; use the ONNX teacher with"
                    + " methods that read its stored outputs only");
        }
        return Models.fromBytes(ctx.storage().readBytes(Storage.join(ctx.layout().teacher(), Models.MODEL_FILE)), false);
    }

    private static int classes(StageContext ctx) {
        return ExamplesTable.classNames(ctx.require(ctx.layout().examples(), "prep")).size();
    }
}
