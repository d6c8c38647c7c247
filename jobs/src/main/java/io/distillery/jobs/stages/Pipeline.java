package io.distillery.jobs.stages;

import io.distillery.config.MethodSettings;
import io.distillery.config.PipelineConfig;
import io.distillery.config.PipelineConfig.DistillSettings;
import io.distillery.jobs.report.Report;
import io.distillery.method.StudentGraphs;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import org.deeplearning4j.nn.graph.ComputationGraph;
import io.distillery.prep.PrepJob;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;

import java.util.List;
import java.util.Map;

/** The stages in order; each skips itself when its output is already up to date. */
public final class Pipeline {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Pipeline.class);
    private Pipeline() {
    }

    public static Report all(StageContext ctx) {
        PrepJob.run(ctx.spark(), ctx.storage(), ctx.config(), ctx.layout().examples(), ctx.force());
        TeacherStage.run(ctx);
        if (!ctx.config().distill().cdfkdMfs().enabled()) {
            // Data-free distillation runs the teachers inside its graph: nothing to precompute.
            PrecomputeStage.run(ctx);
        }
        student(ctx);
        baseline(ctx);
        return EvaluateStage.run(ctx);
    }

    /**
     * The distilled student: the configured methods over the stored teacher outputs. With sequential
     * FEED ({@code distill.feed.generations} G > 1) a chain of G students of the same architecture:
     * each generation but the last is precomputed (logits and its FEED layer) and teaches the next.
     */
    public static Manifest student(StageContext ctx) {
        PipelineConfig c = ctx.config();
        if (c.distill().cdfkdMfs().enabled()) {
            return DataFreeStage.run(ctx);
        }
        int classes = classes(ctx);
        Map<String, Object> describe = new java.util.LinkedHashMap<>(Map.of("teacher", c.teacher().name()));
        List<String> teachers = c.ensemble() ? c.distillTeachers() : List.of();
        if (c.ensemble()) {
            describe.put("teachers", teachers);
        }
        MethodSettings.Feed feed = c.distill().feed();
        DistillSettings d = c.distill();
        String outputs = ctx.layout().teacherOutputs();
        for (int g = 1; ; g++) {
            boolean last = g >= feed.generations();
            String name = last ? c.student().name() : c.student().name() + "-gen" + g;
            String dir = last ? ctx.layout().student() : ctx.layout().student(name);
            if (feed.generations() > 1) {
                describe.put("feed_generation", g + " of " + feed.generations());
                log.info("distill: sequential FEED generation {} of {}: {} learns from {}", g, feed.generations(), name, outputs);
            }
            Manifest m = TrainStage.run(ctx, new TrainStage.Job("student", name, dir, c.student().model(), d.train(),
                    StudentGraphs.methods(d, classes, () -> teacherModel(ctx)), outputs, describe, d.schedule(), teachers));
            if (last) {
                return m;
            }
            // The next generation's teacher is this student: its logits and FEED layer, stored like a teacher's.
            String next = ctx.layout().teacherOutputs(name);
            PrecomputeStage.runModel(ctx, name, dir, next, List.of(feed.studentLayer()));
            outputs = next;
            teachers = List.of();
            describe.put("teacher", name);
            describe.remove("teachers");
            d = d.withFeed(new MethodSettings.Feed(feed.variant(), feed.weight(), feed.studentLayer(), feed.studentLayer(), feed.generations()));
        }
    }

    /** The same architecture, epochs, seed and data as the student, trained on labels alone. */
    public static Manifest baseline(StageContext ctx) {
        PipelineConfig c = ctx.config();
        return TrainStage.run(ctx, new TrainStage.Job("baseline", c.student().name() + "-baseline", ctx.layout().baseline(),
                c.student().model(), c.distill().train(), StudentGraphs.labelsOnly(classes(ctx)), null, Map.of()));
    }

    /** The teacher's DL4J graph, for methods that run parts of it inside the student (KDFM's shared classifier). */
    private static ComputationGraph teacherModel(StageContext ctx) {
        String dir = ctx.layout().teacher();
        if (ctx.config().ensemble()) {
            List<String> teachers = ctx.config().distillTeachers();
            if (teachers.size() != 1) {
                throw new io.distillery.errors.BadInputException("config: KDFM's shared classifier runs one teacher's head; set distill.teachers to one of "
                        + teachers);
            }
            dir = ctx.layout().teacher(teachers.get(0));
        }
        Manifest teacher = ctx.require(dir, "teacher");
        if (PrecomputeStage.isOnnx(teacher)) {
            throw new io.distillery.errors.BadInputException("teacher " + ctx.config().teacher().name() + " is an imported ONNX model: a method that runs"
                    + " the teacher's DL4J layers inside the student (KDFM's shared classifier) needs a DL4J teacher; use the ONNX teacher with"
                    + " methods that read its stored outputs only");
        }
        return Models.fromBytes(ctx.storage().readBytes(Storage.join(dir, Models.MODEL_FILE)), false);
    }

    private static int classes(StageContext ctx) {
        return ExamplesTable.classNames(ctx.require(ctx.layout().examples(), "prep")).size();
    }
}
