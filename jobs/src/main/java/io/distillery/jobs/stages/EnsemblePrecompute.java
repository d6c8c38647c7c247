package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig.PrecomputeSettings;
import io.distillery.config.PipelineConfig.TeacherSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ChannelPruning;
import io.distillery.model.ModelZoo;
import io.distillery.model.Models;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.ColumnSpec;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.table.Provenance;
import io.distillery.table.StagedOutput;
import io.distillery.table.TableVerifier;
import io.distillery.table.TapSpec;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.ColumnEncoding;
import io.distillery.tensor.TensorEncoding;
import io.distillery.tensor.TopKEncoding;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.apache.spark.sql.functions.col;

/**
 * Precompute for an ensemble ({@code teachers = [...]}): one Spark job reads the examples once and
 * runs every member teacher on each batch, writing one table {@code teacher-outputs/<teacher.name>/}
 * keyed by (id, view) with the ensemble's {@code logits} (log of the mean of the members' softmax
 * probabilities) and, per member, its logits and {@code precompute.taps} under the member's column
 * prefix ({@link TeacherOutputsTable#memberPrefix}). The manifest lists the members with their model
 * hash, top-1 accuracy on the precomputed rows and inference seconds. A student reads any subset.
 */
final class EnsemblePrecompute {
    private static final Logger log = LoggerFactory.getLogger(EnsemblePrecompute.class);

    private EnsemblePrecompute() {
    }

    static Manifest run(StageContext ctx) {
        long start = System.nanoTime();
        PrecomputeSettings p = ctx.config().precompute();
        if (p.engine().equals(PrecomputeSettings.ONNX_RUNTIME)) {
            throw new BadInputException("config key 'precompute.engine' is \"onnxruntime\", but an ensemble precompute runs its members in DL4J"
                    + " (one Spark job feeds each batch to every member); set precompute.engine = \"dl4j\"");
        }
        if (p.views() > 0) {
            throw new BadInputException("config key 'precompute.views' is " + p.views() + ", but an ensemble precompute stores the plain"
                    + " images only for now; set precompute.views = 0");
        }
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        Map<String, String> inputs = new LinkedHashMap<>(Map.of("examples", examples.contentHash()));
        Map<String, Manifest> teachers = new LinkedHashMap<>();
        for (TeacherSettings t : ctx.config().members()) {
            Manifest m = ctx.require(ctx.layout().teacher(t.name()), "teacher");
            if (PrecomputeStage.isOnnx(m)) {
                throw new BadInputException("teachers: member " + t.name() + " is an imported ONNX model; an ensemble precompute runs DL4J teachers"
                        + " only (precompute an ONNX teacher alone, with the 'teacher' block)");
            }
            teachers.put(t.name(), m);
            inputs.put("teacher:" + t.name(), m.contentHash());
        }
        Provenance provenance = Provenance.of("precompute", ctx.config().section("precompute"), inputs);
        String output = ctx.layout().teacherOutputs();
        StagedOutput out = StagedOutput.open(ctx.storage(), output, provenance, ctx.force(), false);
        if (out.upToDate()) {
            log.info("precompute: {} is up to date (same teachers, examples and config), skipping", output);
            return Manifest.read(ctx.storage(), output);
        }
        try {
            Manifest manifest = write(ctx, p, examples, teachers, out);
            out.commit(manifest);
            log.info("precompute: wrote {} rows for an ensemble of {} teachers ({} taps each) to {} in {} s", manifest.rows(), teachers.size(),
                    p.taps().size(), output, String.format("%.1f", (System.nanoTime() - start) / 1e9));
            return manifest;
        } catch (Exception e) {
            SparkRuntime.awaitRunningTasks(ctx.spark(), 30);
            out.abandon();
            throw e;
        }
    }

    private static Manifest write(StageContext ctx, PrecomputeSettings p, Manifest examples, Map<String, Manifest> teachers, StagedOutput out) {
        ImageShape shape = ExamplesTable.shape(examples);
        int classes = ExamplesTable.classNames(examples).size();
        TensorEncoding tapEncoding = p.parsedTapEncoding();
        ColumnEncoding logitsEncoding = p.parsedLogitsEncoding();
        if (logitsEncoding instanceof TopKEncoding topK && topK.k() > classes) {
            throw new BadInputException("config key 'precompute.logits-encoding' is '" + topK.configName() + "' but the examples have "
                    + classes + " classes; K must be in 1.." + classes);
        }
        List<TapSpec> specs = TapSpec.parseAll("precompute.taps", p.taps());
        List<EnsembleInference.Member> members = new ArrayList<>();
        List<Broadcast<byte[]>> broadcasts = new ArrayList<>();
        List<ColumnSpec> memberColumns = new ArrayList<>();
        List<StructField> memberFields = new ArrayList<>();
        for (var e : teachers.entrySet()) {
            String name = e.getKey();
            byte[] bytes = ctx.storage().readBytes(Storage.join(ctx.layout().teacher(name), Models.MODEL_FILE));
            ComputationGraph graph = Models.fromBytes(bytes, false);
            Map<String, ChannelPruning.Selection> prunings = PrecomputeStage.resolveTaps(graph, specs, name);
            List<TeacherInference.Tap> taps = specs.stream()
                    .map(s -> new TeacherInference.Tap(s, prunings.containsKey(s.toString()) ? prunings.get(s.toString()).kept() : null)).toList();
            boolean logitsLayer = graph.getConfiguration().getVertices().containsKey(ModelZoo.LOGITS);
            Map<String, long[]> shapes = PrecomputeStage.probeShapes(graph, shape, taps, prunings, logitsLayer);
            long memberClasses = Arrays.stream(shapes.get(TeacherOutputsTable.LOGITS)).reduce(1, Math::multiplyExact);
            if (memberClasses != classes) {
                throw new BadInputException("teachers: member " + name + " has " + memberClasses + " outputs but the examples have " + classes + " classes");
            }
            String prefix = TeacherOutputsTable.memberPrefix(name);
            String who = "teacher " + name + ": ";
            memberColumns.add(PrecomputeStage.tensorColumn(prefix + TeacherOutputsTable.LOGITS, logitsEncoding, shapes.get(TeacherOutputsTable.LOGITS),
                    null, who + (logitsLayer ? "logits (layer 'logits')" : "log of the softmax output")));
            memberFields.add(DataTypes.createStructField(prefix + TeacherOutputsTable.LOGITS, DataTypes.BinaryType, false));
            for (TeacherInference.Tap tap : taps) {
                ColumnSpec c = PrecomputeStage.tapColumn(tap, tapEncoding, shapes.get(tap.spec().toString()), prunings.get(tap.spec().toString()));
                memberColumns.add(c.renamed(prefix + c.name(), who));
                memberFields.add(DataTypes.createStructField(prefix + c.name(), DataTypes.BinaryType, false));
            }
            Broadcast<byte[]> model = ctx.sc().broadcast(bytes);
            broadcasts.add(model);
            members.add(new EnsembleInference.Member(name, model, taps, logitsLayer, ctx.sc().sc().longAccumulator(name + " correct"),
                    ctx.sc().sc().longAccumulator(name + " inference ns")));
        }
        Dataset<Row> rows = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).isin(p.splits().toArray()))
                .select(ExamplesTable.ID, ExamplesTable.IMAGE, ExamplesTable.LABEL);
        long expected = rows.count();
        LongAccumulator seen = ctx.sc().sc().longAccumulator("ensemble examples");
        EnsembleInference inference = new EnsembleInference(members, shape, classes, logitsEncoding, tapEncoding, p.batchSize(), seen);
        JavaRDD<Row> outputs = rows.javaRDD().mapPartitions(inference::apply);
        List<StructField> fields = new ArrayList<>(Arrays.asList(TeacherOutputsTable.schemaOf(List.of()).fields()));
        fields.addAll(memberFields);
        StructType schema = new StructType(fields.toArray(new StructField[0]));
        long jobStart = System.nanoTime();
        SparkRuntime.described(ctx.spark(), "precompute: ensemble of " + members.size() + " teachers " + teachers.keySet() + " over " + expected
                + " examples", () -> {
            ctx.spark().createDataFrame(outputs, schema).write().option("maxRecordsPerFile", ctx.config().data().shardRows()).mode("append")
                    .parquet(out.staging());
            return null;
        });
        double jobSeconds = (System.nanoTime() - jobStart) / 1e9;
        broadcasts.forEach(Broadcast::destroy);
        Dataset<Row> written = ctx.table(out.staging());
        TableVerifier.Stats stats = SparkRuntime.described(ctx.spark(), "precompute: verify ensemble outputs",
                () -> TableVerifier.verify(written, "teacher outputs " + out.staging(), TeacherOutputsTable.ID, TeacherOutputsTable.VIEW));
        if (stats.rows() != expected) {
            throw new IllegalStateException("precompute wrote " + stats.rows() + " rows for " + expected + " examples (1 view each)");
        }
        // One value per teacher per key: no member column may be missing from any row.
        org.apache.spark.sql.Column missing = col(TeacherOutputsTable.LOGITS).isNull();
        for (StructField f : memberFields) {
            missing = missing.or(col(f.name()).isNull());
        }
        org.apache.spark.sql.Column anyMissing = missing;
        long incomplete = SparkRuntime.described(ctx.spark(), "precompute: check every teacher has a value per key",
                () -> written.filter(anyMissing).count());
        if (incomplete > 0) {
            throw new IllegalStateException("precompute wrote " + incomplete + " rows missing a teacher's value");
        }
        List<ColumnSpec> columns = new ArrayList<>();
        columns.add(ColumnSpec.plain(TeacherOutputsTable.ID, "int64", "example id (examples.id)"));
        columns.add(ColumnSpec.plain(TeacherOutputsTable.VIEW, "int32", "0 = the plain image; 1..K reserved for stored augmentations"));
        columns.add(PrecomputeStage.tensorColumn(TeacherOutputsTable.LOGITS, logitsEncoding, new long[]{classes}, null,
                "the ensemble: log of the mean of the " + members.size() + " teachers' softmax probabilities (a logits row whose softmax is that mean)"));
        columns.addAll(memberColumns);
        List<Map<String, Object>> memberFacts = new ArrayList<>();
        for (EnsembleInference.Member m : members) {
            Map<String, Object> facts = new LinkedHashMap<>();
            facts.put("name", m.name());
            facts.put("prefix", TeacherOutputsTable.memberPrefix(m.name()));
            facts.put("teacher_hash", teachers.get(m.name()).contentHash());
            facts.put("validation_accuracy", teachers.get(m.name()).properties().get("validation_accuracy"));
            facts.put("precomputed_accuracy", seen.value() == 0 ? null : m.correct().value() / (double) seen.value());
            facts.put("inference_seconds", m.nanos().value() / 1e9);
            memberFacts.add(facts);
            log.info("precompute: teacher {}: top-1 {} on the {} precomputed {} rows, {} s of inference in the tasks", m.name(),
                    String.format("%.4f", facts.get("precomputed_accuracy")), seen.value(), p.splits(), String.format("%.1f", m.nanos().value() / 1e9));
        }
        Map<String, Object> properties = new LinkedHashMap<>();
        properties.put("teacher", ctx.config().teacher().name());
        properties.put("ensemble", "log of the mean of the members' softmax probabilities, in column 'logits'");
        properties.put(TeacherOutputs.MEMBERS, memberFacts);
        properties.put("dataset_hash", examples.contentHash());
        properties.put("splits", p.splits());
        properties.put("views", 1);
        properties.put("taps", specs.stream().map(TapSpec::toString).toList());
        properties.put("job_seconds", jobSeconds);
        if (logitsEncoding instanceof TopKEncoding topK) {
            properties.put(TeacherOutputs.LOGITS_TOP_K, topK.k());
        }
        properties.put("byte_order", "little-endian");
        return new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, stats.rows(), stats.contentHash(), columns, properties,
                out.provenance());
    }
}
