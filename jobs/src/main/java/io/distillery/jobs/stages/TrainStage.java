package io.distillery.jobs.stages;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.errors.BadInputException;
import io.distillery.data.Augmentation;
import io.distillery.data.ImageShape;
import io.distillery.method.DistillationGraph;
import io.distillery.method.DistillationMethod;
import io.distillery.method.GraphInput;
import io.distillery.method.LabelSource;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.Models;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import io.distillery.table.Provenance;
import io.distillery.table.StagedOutput;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.train.BatchAssembler;
import io.distillery.train.HeadSchedule;
import io.distillery.train.RowBatches;
import io.distillery.train.TrainingRun;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.apache.spark.sql.functions.col;

/**
 * Trains one model on the examples table with parameter averaging: the teacher (labels only), a
 * distilled student (labels plus teacher outputs) or the baseline (the student's architecture on
 * labels only). Writes {@code model.zip} (the deployable classifier, no updater state),
 * {@code metrics.jsonl}, the last checkpoints and the manifest.
 */
public final class TrainStage {
    private static final Logger log = LoggerFactory.getLogger(TrainStage.class);

    /**
     * What to train. {@code teacherOutputsDir} is null when no teacher is used; {@code schedule} is the
     * configured per-epoch head weights ({@code distill.schedule}), applied over the methods' own.
     */
    public record Job(String role, String name, String output, ModelSpec model, TrainSettings train,
                      List<DistillationMethod> methods, String teacherOutputsDir, Map<String, Object> describe,
                      Map<String, List<Double>> schedule, List<String> teachers) {
        /** @param teachers the ensemble members to learn from ({@link TeacherOutputs#select}); empty = the table as written */
        public Job {
            teachers = List.copyOf(teachers);
        }

        public Job(String role, String name, String output, ModelSpec model, TrainSettings train,
                   List<DistillationMethod> methods, String teacherOutputsDir, Map<String, Object> describe,
                   Map<String, List<Double>> schedule) {
            this(role, name, output, model, train, methods, teacherOutputsDir, describe, schedule, List.of());
        }

        public Job(String role, String name, String output, ModelSpec model, TrainSettings train,
                   List<DistillationMethod> methods, String teacherOutputsDir, Map<String, Object> describe) {
            this(role, name, output, model, train, methods, teacherOutputsDir, describe, Map.of());
        }
    }

    private TrainStage() {
    }

    public static Manifest run(StageContext ctx, Job job) {
        long start = System.nanoTime();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        Manifest outputs = job.teacherOutputsDir() == null ? null : ctx.require(job.teacherOutputsDir(), "precompute");
        Map<String, String> inputs = new LinkedHashMap<>();
        inputs.put("examples", examples.contentHash());
        if (outputs != null) {
            inputs.put("teacher_outputs", outputs.contentHash());
        }
        Map<String, Object> config = new LinkedHashMap<>(Map.of("model", job.model(), "train", job.train(), "methods", describeMethods(job),
                "schedule", job.schedule()));
        if (!job.teachers().isEmpty()) {
            config.put("teachers", job.teachers());
        }
        String configJson = Json.line(config);
        Provenance provenance = Provenance.of(job.role(), configJson, inputs);
        StagedOutput out = StagedOutput.open(ctx.storage(), job.output(), provenance, ctx.force(), ctx.resume());
        if (out.upToDate()) {
            log.info("{}: {} is up to date (same inputs and config), skipping", job.role(), job.output());
            return Manifest.read(ctx.storage(), job.output());
        }
        try {
            return train(ctx, job, examples, outputs, provenance, out, start);
        } catch (Exception e) {
            // Bad input (here or carried back from an executor) leaves nothing worth resuming; other
            // failures keep the staging directory and its checkpoints for --resume.
            if (BadInputException.find(e) != null) {
                SparkRuntime.awaitRunningTasks(ctx.spark(), 30);
                out.abandon();
            }
            throw e;
        }
    }

    private static Manifest train(StageContext ctx, Job job, Manifest examples, Manifest outputs, Provenance provenance,
                                  StagedOutput out, long start) {
        ImageShape shape = ExamplesTable.shape(examples);
        List<String> classNames = ExamplesTable.classNames(examples);
        int classes = classNames.size();
        TeacherOutputs teacher = outputs == null ? TeacherOutputs.none()
                : new TeacherOutputs(job.teacherOutputsDir(), outputs).select(job.teachers());
        DistillationGraph graphSpec = StudentGraphs.build(job.model(), shape, classes, job.train(), job.methods(), teacher);
        ComputationGraph graph = graphSpec.newGraph();
        HeadSchedule schedule = new HeadSchedule(StudentGraphs.schedule(job.methods(), graphSpec.outputs(), job.schedule()));
        log.info("{} {}: {} parameters ({} in the deployed model), heads {}{}; {}", job.role(), job.name(), graph.numParams(),
                StudentGraphs.deployable(graph).numParams(), graphSpec.outputs(),
                graphSpec.extraInputs().isEmpty() ? "" : ", extra inputs " + graphSpec.extraInputs().stream().map(GraphInput::name).toList(),
                Nd4jRuntime.describe(graph));

        List<LabelSource> teacherColumns = new ArrayList<>(graphSpec.labels());
        graphSpec.extraInputs().forEach(i -> teacherColumns.add(i.column()));
        Dataset<Row> train = trainingRows(ctx, job, teacherColumns);
        Dataset<Row> validation = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("validation"))
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE).persist(StorageLevel.MEMORY_AND_DISK());
        try {
            long count = SparkRuntime.described(ctx.spark(), job.role() + ": load and check training rows", train::count);
            if (outputs != null) {
                TeacherCoverage.check(ctx, job.teacherOutputsDir(), teacherColumns, train);
            }
            BatchAssembler assembler = new BatchAssembler(shape, graphSpec.extraInputs(), graphSpec.labels(), job.train().batchSize());
            int views = outputs == null ? 0 : views(ctx, job);
            if (views > 0) {
                log.info("{} {}: {} stored views per example; each epoch shows one of them, with the augmentation the teacher saw", job.role(),
                        job.name(), views);
            } else if (job.train().augment()) {
                if (outputs != null) {
                    throw new BadInputException("config key '" + (job.role().equals("teacher") ? "teacher" : "distill") + ".train.augment' is true but the teacher outputs in "
                            + job.teacherOutputsDir() + " hold the plain images only, and a teacher's outputs are valid for the image it saw;"
                            + " precompute augmented views (precompute.views = K) or set augment = false");
                }
                log.info("{} {}: augmented afresh each epoch ({})", job.role(), job.name(), ctx.config().augmentation());
            }
            RowBatches batches = new RowBatches(train, count, assembler, job.train().seed(), views,
                    views == 0 && job.train().augment() ? ctx.config().augmentation() : null);
            TrainingRun.Result result = new TrainingRun(ctx.sc(), ctx.storage(), out.staging(), job.role() + " " + job.name(), job.train(),
                    schedule, StudentGraphs::deployable).run(graph, batches, validation, shape, classes, ctx.resume() && out.resuming());
            Map<String, Object> properties = new LinkedHashMap<>();
            properties.put("methods", describeMethods(job));
            properties.put("teacher_columns", teacherColumns.stream().flatMap(l -> l.teacherColumns().stream())
                    .map(LabelSource.TeacherColumn::column).distinct().toList());
            properties.putAll(job.describe());
            Manifest manifest = commit(ctx, out, job.role(), job.name(), job.model(), shape, classNames,
                    StudentGraphs.deployable(result.graph()), result, properties, provenance, start);
            return manifest;
        } finally {
            train.unpersist();
            validation.unpersist();
        }
    }

    /**
     * Writes the deployed model ({@code model.zip}) and the manifest of a finished training: model
     * facts, {@code properties}, epochs, seconds, the kept epoch and its validation accuracy.
     */
    static Manifest commit(StageContext ctx, StagedOutput out, String role, String name, ModelSpec model, ImageShape shape,
                           List<String> classNames, ComputationGraph deployed, TrainingRun.Result result, Map<String, Object> extra,
                           Provenance provenance, long start) {
        String modelPath = Storage.join(out.staging(), Models.MODEL_FILE);
        Models.write(ctx.storage(), modelPath, deployed, false);
        Map<String, Object> properties = ModelFacts.of(model, shape, classNames, deployed, ctx.storage().size(modelPath));
        properties.put("role", role);
        properties.putAll(extra);
        properties.put("epochs", result.metrics().size());
        properties.put("train_seconds", result.metrics().stream().mapToDouble(m -> m.seconds()).sum());
        properties.put("selected_epoch", result.selectedEpoch());
        properties.put("validation_accuracy", result.metrics().stream().filter(m -> m.epoch() == result.selectedEpoch())
                .map(m -> m.validationAccuracy()).findFirst().orElse(null));
        properties.put("model_sha256", ctx.storage().sha256(modelPath));
        Manifest manifest = new Manifest("model", Manifest.FORMAT_VERSION, 0, (String) properties.get("model_sha256"), List.of(),
                properties, provenance);
        out.commit(manifest);
        log.info("{} {}: trained {} epochs in {} s, kept epoch {} (validation accuracy {}), wrote {}", role, name,
                result.metrics().size(), String.format("%.1f", (System.nanoTime() - start) / 1e9), result.selectedEpoch(),
                properties.get("validation_accuracy"), out.staging().replace(".partial", ""));
        return manifest;
    }

    /**
     * The train split, joined with teacher outputs when a method needs them, one partition per
     * worker (hash of id: deterministic), cached for the epochs to come.
     */
    public static Dataset<Row> trainingRows(StageContext ctx, Job job, List<LabelSource> labels) {
        // Columns are read once even when two heads (or a head and an input) share one.
        Dataset<Row> examples = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("train"))
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE);
        Dataset<Row> rows = examples;
        List<String> teacherColumns = new ArrayList<>();
        for (LabelSource l : labels) {
            for (LabelSource.TeacherColumn c : l.teacherColumns()) {
                if (!teacherColumns.contains(c.column())) {
                    teacherColumns.add(c.column());
                }
            }
        }
        if (!teacherColumns.isEmpty()) {
            List<Column> cols = new ArrayList<>(List.of(col(TeacherOutputsTable.ID)));
            Dataset<Row> outputs = ctx.table(job.teacherOutputsDir());
            if (views(ctx, job) > 0) {
                // Every stored view with the augmentation that made it; RowBatches picks one per example per epoch.
                List.of(TeacherOutputsTable.VIEW, Augmentation.DX, Augmentation.DY, Augmentation.FLIP).forEach(c -> cols.add(col(c)));
            } else {
                outputs = outputs.filter(col(TeacherOutputsTable.VIEW).equalTo(0));
            }
            teacherColumns.forEach(c -> cols.add(col(c)));
            rows = examples.join(outputs.select(cols.toArray(new Column[0])), ExamplesTable.ID);
        }
        int workers = job.train().workers() > 0 ? job.train().workers() : ctx.sc().defaultParallelism();
        return rows.repartition(workers, col(ExamplesTable.ID)).persist(StorageLevel.MEMORY_AND_DISK());
    }

    /** Stored augmented views per example in the job's teacher outputs (0: plain images, or no teacher outputs). */
    static int views(StageContext ctx, Job job) {
        String dir = job.teacherOutputsDir();
        if (dir == null || !ctx.storage().exists(Storage.join(dir, Manifest.FILE))) {
            return 0;
        }
        return TeacherOutputsTable.storedViews(Manifest.read(ctx.storage(), dir));
    }

    private static List<Map<String, Object>> describeMethods(Job job) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (DistillationMethod m : job.methods()) {
            list.add(Map.of("name", m.name(), "settings", m.toString()));
        }
        return list;
    }
}
