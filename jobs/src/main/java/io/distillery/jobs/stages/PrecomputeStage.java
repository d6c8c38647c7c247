package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig.PrecomputeSettings;
import io.distillery.data.Augmentation;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ChannelPruning;
import io.distillery.model.ModelZoo;
import io.distillery.model.Models;
import io.distillery.onnx.OnnxGraph;
import io.distillery.onnx.OnnxModels;
import io.distillery.onnx.OnnxTeacher;
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
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.explode;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sequence;

/**
 * The precompute stage: the teacher goes to the executors once (broadcast), each partition of the
 * examples runs batched inference, and the logits and configured taps are written per example id
 * to {@code teacher-outputs/<teacher>/}, with a manifest giving tap names, shapes, encodings, the
 * teacher hash, the dataset hash and the verified row count. A tap may be stored transformed
 * ({@link TapSpec}: attention map, InDistill channel pruning); its manifest column records the
 * source layer, the transform and, for pruning, the producing convolution and kept channels.
 */
public final class PrecomputeStage {
    private static final Logger log = LoggerFactory.getLogger(PrecomputeStage.class);
    /** Examples run in both DL4J and ONNX Runtime before precompute.engine = onnxruntime is trusted. */
    static final int CHECK_IMAGES = 64;

    private PrecomputeStage() {
    }

    /** Which model to run and where its outputs go: the configured teacher, or (sequential FEED) a trained student. */
    record Source(String name, String modelDir, String outputDir, List<String> taps) {
    }

    public static Manifest run(StageContext ctx) {
        if (ctx.config().ensemble()) {
            return EnsemblePrecompute.run(ctx);
        }
        return run(ctx, new Source(ctx.config().teacher().name(), ctx.layout().teacher(), ctx.layout().teacherOutputs(),
                ctx.config().precompute().taps()));
    }

    /**
     * Precompute with a trained student as the teacher (sequential FEED: each generation teaches the
     * next): its logits and {@code taps} into {@code outputDir}, other precompute settings as configured.
     */
    public static Manifest runModel(StageContext ctx, String name, String modelDir, String outputDir, List<String> taps) {
        return run(ctx, new Source(name, modelDir, outputDir, taps));
    }

    private static Manifest run(StageContext ctx, Source source) {
        long start = System.nanoTime();
        PrecomputeSettings p = ctx.config().precompute();
        p = p.withTaps(source.taps());
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        Manifest teacher = ctx.require(source.modelDir(), "teacher");
        TensorEncoding tapEncoding = p.parsedTapEncoding();
        ColumnEncoding logitsEncoding = p.parsedLogitsEncoding();
        Map<String, String> inputs = new LinkedHashMap<>(Map.of("examples", examples.contentHash(), "teacher", teacher.contentHash()));
        if (isOnnx(teacher)) {
            // How images are fed to an ONNX teacher changes its outputs: rerun when it changes.
            inputs.put("teacher_onnx_input", ctx.config().section("teacher.onnx"));
        }
        // The configured precompute section, as tables written before sequential FEED recorded it; a student's own taps otherwise.
        String settings = source.taps().equals(ctx.config().precompute().taps()) ? ctx.config().section("precompute") : io.distillery.table.Json.line(p);
        Provenance provenance = Provenance.of("precompute", settings, inputs);
        String output = source.outputDir();
        StagedOutput out = StagedOutput.open(ctx.storage(), output, provenance, ctx.force(), false);
        if (out.upToDate()) {
            log.info("precompute: {} is up to date (same teacher, examples and config), skipping", output);
            return Manifest.read(ctx.storage(), output);
        }
        try {
            Manifest manifest = write(ctx, source, p, examples, teacher, tapEncoding, logitsEncoding, out);
            out.commit(manifest);
            log.info("precompute: wrote {} rows ({} taps) to {} in {} s", manifest.rows(), p.taps().size(), output,
                    String.format("%.1f", (System.nanoTime() - start) / 1e9));
            return manifest;
        } catch (Exception e) {
            // Spark's own exceptions are checked ones that Scala throws undeclared: catch them all.
            SparkRuntime.awaitRunningTasks(ctx.spark(), 30);
            out.abandon();
            throw e;
        }
    }

    private static Manifest write(StageContext ctx, Source source, PrecomputeSettings p, Manifest examples, Manifest teacher,
                                  TensorEncoding tapEncoding, ColumnEncoding logitsEncoding, StagedOutput out) {
        ImageShape shape = ExamplesTable.shape(examples);
        List<TapSpec> specs = TapSpec.parseAll("precompute.taps", p.taps());
        boolean onnx = isOnnx(teacher);
        Dataset<Row> rows = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).isin(p.splits().toArray()))
                .select(ExamplesTable.ID, ExamplesTable.IMAGE);
        long examplesCount = rows.count();
        Augmentation augmentation = ctx.config().augmentation();
        if (p.views() > 0) {
            // K rows per example, views 1..K, each with its augmentation drawn from (id, view); the executors apply it before the teacher.
            rows = rows.withColumn(TeacherOutputsTable.VIEW, explode(sequence(lit(1), lit(p.views()))))
                    .select(col(ExamplesTable.ID), col(ExamplesTable.IMAGE), col(TeacherOutputsTable.VIEW),
                            augmentation.dx(col(ExamplesTable.ID), col(TeacherOutputsTable.VIEW)),
                            augmentation.dy(col(ExamplesTable.ID), col(TeacherOutputsTable.VIEW)),
                            augmentation.flip(col(ExamplesTable.ID), col(TeacherOutputsTable.VIEW)));
        }
        String engineCheck = null;
        byte[] modelBytes;
        Map<String, ChannelPruning.Selection> prunings;
        List<TeacherInference.Tap> taps;
        boolean logitsLayer;
        Map<String, long[]> shapes;
        OnnxTeacher onnxTeacher = null;
        String onnxLogits = null;
        if (onnx) {
            byte[] stored = ctx.storage().readBytes(Storage.join(source.modelDir(), OnnxTeacher.MODEL_FILE));
            OnnxGraph graph = OnnxGraph.parse(stored, source.name());
            prunings = new LinkedHashMap<>();
            taps = resolveOnnxTaps(graph, specs, source.name(), prunings);
            onnxLogits = TeacherStage.logitsOutput(graph, ctx.config().teacher().onnx().logitsOutput(), source.name());
            onnxTeacher = new OnnxTeacher(graph.inputName(), shape, ctx.config().teacher().onnx());
            // ORT fetches graph outputs only: expose every tapped value as one.
            modelBytes = graph.withOutputs(OnnxTeacherInference.fetched(onnxLogits, taps));
            logitsLayer = true;
            shapes = probeOnnxShapes(modelBytes, onnxTeacher, shape, taps, onnxLogits, prunings);
        } else {
            modelBytes = ctx.storage().readBytes(Storage.join(source.modelDir(), Models.MODEL_FILE));
            ComputationGraph graph = Models.fromBytes(modelBytes, false);
            prunings = resolveTaps(graph, specs, source.name());
            taps = specs.stream()
                    .map(s -> new TeacherInference.Tap(s, prunings.containsKey(s.toString()) ? prunings.get(s.toString()).kept() : null)).toList();
            logitsLayer = graph.getConfiguration().getVertices().containsKey(ModelZoo.LOGITS);
            shapes = probeShapes(graph, shape, taps, prunings, logitsLayer);
            if (p.engine().equals(PrecomputeSettings.ONNX_RUNTIME)) {
                // A bounded sample for the check against DL4J; nothing scales with the data on the driver.
                List<byte[]> sample = rows.limit(CHECK_IMAGES).collectAsList().stream().map(r -> (byte[]) r.getAs(ExamplesTable.IMAGE)).toList();
                OnnxRuntimeEngine.Prepared prepared = OnnxRuntimeEngine.prepare(graph, shape, taps, source.name(), sample);
                modelBytes = prepared.model();
                onnxTeacher = prepared.teacher();
                onnxLogits = io.distillery.onnx.OnnxExport.LOGITS;
                engineCheck = prepared.check();
                log.info("precompute: teacher {} runs in ONNX Runtime (precompute.engine); {}", source.name(), engineCheck);
            }
        }
        long[] logitsShape = shapes.get(TeacherOutputsTable.LOGITS);
        long classes = Arrays.stream(logitsShape).reduce(1, Math::multiplyExact);
        if (logitsEncoding instanceof TopKEncoding topK && topK.k() > classes) {
            // The class count is known only now, from the teacher: the config check could only see k >= 1.
            throw new BadInputException("config key 'precompute.logits-encoding' is '" + topK.configName() + "' but teacher "
                    + source.name() + " has " + classes + " classes; K must be in 1.." + classes);
        }

        boolean cuda = p.device().equals(PrecomputeSettings.CUDA);
        if (cuda && onnxTeacher == null) {
            throw new BadInputException("config key 'precompute.device' is \"cuda\", which runs teachers in ONNX Runtime, but teacher " + source.name()
                    + " runs in DL4J; set precompute.engine = \"onnxruntime\" (or precompute.device = \"cpu\")");
        }
        if (cuda && ctx.sc().isLocal()) {
            // Local mode runs the tasks in this JVM: find a missing GPU build or driver here, in one line, before the job.
            OnnxModels.open(modelBytes, 1, 0).close();
        }
        long expected = examplesCount * Math.max(1, p.views());
        Broadcast<byte[]> model = ctx.sc().broadcast(modelBytes);
        JavaRDD<Row> outputs;
        if (onnxTeacher != null) {
            OnnxTeacherInference inference = new OnnxTeacherInference(model, onnxTeacher, shape, taps, onnxLogits, logitsEncoding,
                    tapEncoding, p.batchSize(), ctx.sc().getConf().getInt("spark.task.cpus", 1), cuda);
            outputs = rows.javaRDD().mapPartitions(inference::apply);
        } else {
            TeacherInference inference = new TeacherInference(model, shape, taps, logitsLayer, logitsEncoding, tapEncoding,
                    p.batchSize());
            outputs = rows.javaRDD().mapPartitions(inference::apply);
        }
        SparkRuntime.described(ctx.spark(), "precompute: teacher " + source.name() + " over " + expected + " examples", () -> {
            ctx.spark().createDataFrame(outputs, TeacherOutputsTable.schemaOf(taps.stream().map(TeacherInference.Tap::spec).toList(), p.views() > 0)).write()
                    .option("maxRecordsPerFile", ctx.config().data().shardRows()).mode("append").parquet(out.staging());
            return null;
        });
        model.destroy();
        Dataset<Row> written = ctx.table(out.staging());
        TableVerifier.Stats stats = SparkRuntime.described(ctx.spark(), "precompute: verify teacher outputs",
                () -> TableVerifier.verify(written, "teacher outputs " + out.staging(), TeacherOutputsTable.ID, TeacherOutputsTable.VIEW));
        if (stats.rows() != expected) {
            throw new IllegalStateException("precompute wrote " + stats.rows() + " rows for " + examplesCount + " examples x " + Math.max(1, p.views())
                    + " views");
        }
        List<ColumnSpec> columns = new ArrayList<>();
        columns.add(ColumnSpec.plain(TeacherOutputsTable.ID, "int64", "example id (examples.id)"));
        if (p.views() > 0) {
            columns.add(ColumnSpec.plain(TeacherOutputsTable.VIEW, "int32", "stored augmented view 1.." + p.views() + " of the example"));
            columns.add(ColumnSpec.plain(Augmentation.DX, "int32", "horizontal shift of this view: " + Augmentation.REPLAY));
            columns.add(ColumnSpec.plain(Augmentation.DY, "int32", "vertical shift of this view (see aug_dx)"));
            columns.add(ColumnSpec.plain(Augmentation.FLIP, "boolean", "whether this view is flipped horizontally (see aug_dx)"));
        } else {
            columns.add(ColumnSpec.plain(TeacherOutputsTable.VIEW, "int32", "0 = the plain image; 1..K are stored augmentations (precompute.views)"));
        }
        String logitsText = onnx ? "teacher logits (ONNX output '" + onnxLogits + "', float32 exactly as ONNX Runtime returns them)"
                : engineCheck != null ? "teacher logits (layer 'logits', run in ONNX Runtime from an in-memory ONNX export; " + engineCheck + ")"
                : logitsLayer ? "teacher logits (layer 'logits')"
                : "log of the teacher's softmax output (equal to logits up to a per-row constant)";
        if (logitsEncoding instanceof TopKEncoding topK) {
            logitsText += ", only the " + topK.k() + " largest of " + classes + " per example: " + topK.k()
                    + " float32 values, descending, then their " + topK.k() + " int32 class indices (k in properties." + TeacherOutputs.LOGITS_TOP_K + ")";
        }
        columns.add(tensorColumn(TeacherOutputsTable.LOGITS, logitsEncoding, logitsShape, null, logitsText));
        for (TeacherInference.Tap tap : taps) {
            columns.add(tapColumn(tap, tapEncoding, shapes.get(tap.spec().toString()), prunings.get(tap.spec().toString())));
        }
        Map<String, Object> properties = new LinkedHashMap<>();
        properties.put("teacher", source.name());
        properties.put("teacher_hash", teacher.contentHash());
        properties.put("dataset_hash", examples.contentHash());
        properties.put("splits", p.splits());
        properties.put("views", Math.max(1, p.views())); // rows per example (TeacherOutputsTable.storedViews)
        if (p.views() > 0) {
            properties.put("augmentation", Map.of("crop_pad", augmentation.cropPad(), "flip", augmentation.flip(), "seed", augmentation.seed(),
                    "replay", Augmentation.REPLAY));
        }
        properties.put("engine", onnxTeacher != null ? PrecomputeSettings.ONNX_RUNTIME : PrecomputeSettings.DL4J);
        if (engineCheck != null) {
            properties.put("engine_check", engineCheck);
        }
        properties.put("taps", taps.stream().map(t -> t.spec().toString()).toList());
        if (logitsEncoding instanceof TopKEncoding topK) {
            properties.put(TeacherOutputs.LOGITS_TOP_K, topK.k());
        }
        properties.put("byte_order", "little-endian");
        return new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, stats.rows(), stats.contentHash(), columns, properties,
                out.provenance());
    }

    /**
     * Checks each spec's layer against the teacher and, for prune-l1, ranks the producing
     * convolution's filters (one-line BadInputException naming the tap when that is impossible).
     * Returns the channel selections of the pruned taps, by spec string.
     */
    static Map<String, ChannelPruning.Selection> resolveTaps(ComputationGraph graph, List<TapSpec> specs, String teacher) {
        TreeSet<String> layers = new TreeSet<>(graph.getConfiguration().getVertices().keySet());
        Map<String, ChannelPruning.Selection> prunings = new LinkedHashMap<>();
        for (TapSpec spec : specs) {
            if (!layers.contains(spec.layer())) {
                throw new BadInputException("precompute.taps: '" + spec.layer() + "'" + (spec.isRaw() ? "" : " (in '" + spec + "')")
                        + " is not a layer of teacher " + teacher
                        + "; valid names: " + layers);
            }
            if (spec.transform().equals(TapSpec.PRUNE_L1)) {
                try {
                    prunings.put(spec.toString(), ChannelPruning.select(graph, spec.layer(), spec.parameter()));
                } catch (BadInputException e) {
                    throw new BadInputException("precompute.taps: '" + spec + "' of teacher " + teacher + ": " + e.getMessage(), e);
                }
            }
        }
        return prunings;
    }

    /** Whether a teacher manifest describes an imported ONNX model (stored as {@value OnnxTeacher#MODEL_FILE}). */
    public static boolean isOnnx(Manifest teacher) {
        return "onnx".equals(teacher.properties().get("format"));
    }

    /**
     * Checks each spec against an ONNX teacher's value names (a one-line error listing them) and,
     * for prune-l1, ranks the producing Conv's weight initializer ({@link OnnxGraph#pruneL1}),
     * adding the selection to {@code prunings} by spec string.
     */
    static List<TeacherInference.Tap> resolveOnnxTaps(OnnxGraph graph, List<TapSpec> specs, String teacher,
                                                      Map<String, ChannelPruning.Selection> prunings) {
        List<TeacherInference.Tap> taps = new ArrayList<>();
        for (TapSpec spec : specs) {
            graph.requireValues("precompute.taps: ", List.of(spec.layer()));
            if (spec.transform().equals(TapSpec.PRUNE_L1)) {
                try {
                    ChannelPruning.Selection s = graph.pruneL1(spec.layer(), spec.parameter());
                    prunings.put(spec.toString(), s);
                    taps.add(new TeacherInference.Tap(spec, s.kept()));
                } catch (BadInputException e) {
                    throw new BadInputException("precompute.taps: '" + spec + "' of ONNX teacher " + teacher + ": " + e.getMessage(), e);
                }
            } else {
                taps.add(new TeacherInference.Tap(spec, null));
            }
        }
        return taps;
    }

    /** Shapes of one example's logits and stored taps from one blank image through ONNX Runtime (one thread). */
    private static Map<String, long[]> probeOnnxShapes(byte[] modelBytes, OnnxTeacher teacher, ImageShape shape, List<TeacherInference.Tap> taps,
                                                       String logitsOutput, Map<String, ChannelPruning.Selection> prunings) {
        float[] x = new float[shape.pixelCount()];
        teacher.fill(new byte[shape.pixelCount()], x, 0);
        Map<String, io.distillery.onnx.OnnxModels.Runner.Tensor> outs;
        try (io.distillery.onnx.OnnxModels.Runner runner = io.distillery.onnx.OnnxModels.open(modelBytes, 1)) {
            outs = teacher.run(runner, x, 1, OnnxTeacherInference.fetched(logitsOutput, taps));
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put(TeacherOutputsTable.LOGITS, dropBatch(outs.get(logitsOutput).shape()));
        for (TeacherInference.Tap tap : taps) {
            io.distillery.onnx.OnnxModels.Runner.Tensor t = outs.get(tap.spec().layer());
            if (t.shape().length == 0 || t.shape()[0] != 1) {
                throw new BadInputException("precompute.taps: '" + tap.spec() + "': value '" + tap.spec().layer() + "' has shape "
                        + Arrays.toString(t.shape()) + " for one image; a tap needs the batch as its first dimension");
            }
            ChannelPruning.Selection pruning = prunings.get(tap.spec().toString());
            if (pruning != null && (t.shape().length != 4 || t.shape()[1] != pruning.channels())) {
                throw new BadInputException("precompute.taps: '" + tap.spec() + "': value '" + tap.spec().layer() + "' is "
                        + Arrays.toString(dropBatch(t.shape())) + ", not the " + pruning.channels() + " channels of its convolution '"
                        + pruning.conv() + "'");
            }
            shapes.put(tap.spec().toString(), dropBatch(TeacherInference.transform(tap, Nd4j.create(t.data(), t.shape(), 'c')).shape()));
        }
        return shapes;
    }

    /** Shapes of one example's logits and stored taps (keyed by spec string), from one blank image. */
    static Map<String, long[]> probeShapes(ComputationGraph graph, ImageShape shape, List<TeacherInference.Tap> taps,
                                                   Map<String, ChannelPruning.Selection> prunings, boolean logitsLayer) {
        Map<String, INDArray> acts = graph.feedForward(Nd4j.zeros(1, shape.channels(), shape.height(), shape.width()), false);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put(TeacherOutputsTable.LOGITS, dropBatch(TeacherInference.logits(graph, acts, logitsLayer).shape()));
        for (TeacherInference.Tap tap : taps) {
            INDArray activation = acts.get(tap.spec().layer());
            ChannelPruning.Selection pruning = prunings.get(tap.spec().toString());
            if (pruning != null && (activation.rank() != 4 || activation.size(1) != pruning.channels())) {
                throw new BadInputException("precompute.taps: '" + tap.spec() + "': activation of '" + tap.spec().layer() + "' is "
                        + Arrays.toString(dropBatch(activation.shape())) + ", not the " + pruning.channels() + " channels of its convolution '"
                        + pruning.conv() + "'");
            }
            shapes.put(tap.spec().toString(), dropBatch(TeacherInference.transform(tap, activation).shape()));
        }
        return shapes;
    }

    private static long[] dropBatch(long[] s) {
        return Arrays.copyOfRange(s, 1, s.length);
    }

    static ColumnSpec tensorColumn(String name, ColumnEncoding enc, long[] shape, String tap, String description) {
        List<Integer> dims = Arrays.stream(shape).mapToObj(d -> (int) d).toList();
        String layout = dims.size() == 3 ? "CHW" : dims.size() == 1 ? "K" : null;
        return new ColumnSpec(name, "binary", enc.manifestName(), dims, layout, tap, description);
    }

    /** The manifest column of a stored tap: source layer in {@code tap}, transform and (pruning) kept channels beside it. */
    static ColumnSpec tapColumn(TeacherInference.Tap tap, TensorEncoding enc, long[] shape, ChannelPruning.Selection pruning) {
        TapSpec spec = tap.spec();
        List<Integer> dims = Arrays.stream(shape).mapToObj(d -> (int) d).toList();
        String layer = spec.layer();
        return switch (spec.transform()) {
            case TapSpec.ATTENTION -> new ColumnSpec(spec.column(), "binary", enc.manifestName(), dims, dims.size() == 2 ? "HW" : null, layer,
                    "attention map of teacher layer '" + layer + "' (Zagoruyko & Komodakis): mean over channels of the squared activation,"
                            + " divided per example by its L2 norm over H*W", spec.transformText(), null);
            case TapSpec.PRUNE_L1 -> new ColumnSpec(spec.column(), "binary", enc.manifestName(), dims, "CHW", layer,
                    "activation of teacher layer '" + layer + "' restricted to the " + pruning.kept().length + " of " + pruning.channels()
                            + " channels whose producing convolution '" + pruning.conv() + "' has the largest L1 filter norms (sum |W| over in, kh, kw;"
                            + " InDistill), in ascending channel order; kept channel indices in 'channels'",
                    spec.transformText(), pruning.keptList());
            default -> tensorColumn(spec.column(), enc, shape, layer, "activation of teacher layer '" + layer + "'");
        };
    }
}
