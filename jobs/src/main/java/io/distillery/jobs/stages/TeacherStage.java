package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig.TeacherSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.StudentGraphs;
import io.distillery.model.Models;
import io.distillery.onnx.OnnxGraph;
import io.distillery.onnx.OnnxModels;
import io.distillery.onnx.OnnxTeacher;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import io.distillery.table.Provenance;
import io.distillery.table.StagedOutput;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.InputStream;
import java.util.List;
import java.util.Map;

/**
 * The teacher stage: train a zoo model on the examples (labels only, parameter averaging), or
 * import an existing DL4J ComputationGraph zip after checking it accepts the examples' images.
 */
public final class TeacherStage {
    private static final Logger log = LoggerFactory.getLogger(TeacherStage.class);

    private TeacherStage() {
    }

    /** The teacher, or every ensemble member in {@code teachers/<name>/}; returns the last one's manifest. */
    public static Manifest run(StageContext ctx) {
        if (!ctx.config().ensemble()) {
            return run(ctx, ctx.config().teacher(), ctx.layout().teacher());
        }
        Manifest last = null;
        for (TeacherSettings member : ctx.config().members()) {
            log.info("teacher: ensemble member {} of {}", member.name(), ctx.config().members().stream().map(TeacherSettings::name).toList());
            last = run(ctx, member, ctx.layout().teacher(member.name()));
        }
        return last;
    }

    private static Manifest run(StageContext ctx, TeacherSettings t, String dir) {
        if (t.imported()) {
            return importModel(ctx, t, dir);
        }
        int classes = ExamplesTable.classNames(ctx.require(ctx.layout().examples(), "prep")).size();
        return TrainStage.run(ctx, new TrainStage.Job("teacher", t.name(), dir, t.model(), t.train(),
                StudentGraphs.labelsOnly(classes), null, Map.of()));
    }

    static Manifest importModel(StageContext ctx, TeacherSettings t, String dir) {
        Storage storage = ctx.storage();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        byte[] bytes;
        try (InputStream in = Models.openModel(storage, t.importPath())) {
            bytes = in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + t.importPath(), e);
        }
        String hash = "sha256:" + java.util.HexFormat.of().formatHex(sha256(bytes));
        if (t.importsOnnx()) {
            return importOnnx(ctx, t, dir, examples, bytes, hash);
        }
        Provenance provenance = Provenance.of("teacher-import", Json.line(Map.of("import", t.importPath())),
                Map.of("model", hash));
        StagedOutput out = StagedOutput.open(storage, dir, provenance, ctx.force(), false);
        if (out.upToDate()) {
            log.info("teacher: {} is up to date (same imported model), skipping", dir);
            return Manifest.read(storage, dir);
        }
        try {
            ComputationGraph graph = Models.read(storage, t.importPath(), false);
            ImageShape shape = ExamplesTable.shape(examples);
            checkAccepts(graph, shape, t.importPath());
            String modelPath = Storage.join(out.staging(), Models.MODEL_FILE);
            storage.writeBytes(modelPath, bytes);
            Map<String, Object> properties = ModelFacts.of(null, shape, ExamplesTable.classNames(examples), graph, bytes.length);
            properties.put("role", "teacher");
            properties.put("imported_from", t.importPath());
            properties.put("model_sha256", hash);
            Manifest origin = originManifest(storage, t.importPath());
            if (origin != null) {
                // The shipped demo teacher carries the manifest of the run that trained it.
                properties.put("origin", origin);
            }
            Manifest manifest = new Manifest("model", Manifest.FORMAT_VERSION, 0, hash, List.of(), properties, provenance);
            out.commit(manifest);
            log.info("teacher: imported {} ({} parameters) into {}", t.importPath(), graph.numParams(), dir);
            return manifest;
        } catch (RuntimeException e) {
            out.abandon();
            throw e;
        }
    }

    /**
     * Imports an ONNX teacher: checks its single image input against the examples' shape and
     * {@code teacher.onnx}, runs one blank image through ONNX Runtime, and stores the file as
     * {@code model.onnx} with a manifest of its facts (SHA-256, opset, producer, input, outputs).
     */
    private static Manifest importOnnx(StageContext ctx, TeacherSettings t, String dir, Manifest examples, byte[] bytes, String hash) {
        Storage storage = ctx.storage();
        Map<String, Object> settings = new java.util.LinkedHashMap<>();
        settings.put("import", t.importPath());
        settings.put("onnx", t.onnx());
        Provenance provenance = Provenance.of("teacher-import", Json.line(settings), Map.of("model", hash));
        StagedOutput out = StagedOutput.open(storage, dir, provenance, ctx.force(), false);
        if (out.upToDate()) {
            log.info("teacher: {} is up to date (same imported model), skipping", dir);
            return Manifest.read(storage, dir);
        }
        try {
            OnnxGraph graph = OnnxGraph.parse(bytes, t.importPath());
            ImageShape shape = ExamplesTable.shape(examples);
            List<String> classNames = ExamplesTable.classNames(examples);
            OnnxTeacher.checkInput(graph, shape, t.onnx(), t.importPath());
            String logits = logitsOutput(graph, t.onnx().logitsOutput(), t.importPath());
            long classes = probeClasses(bytes, graph, shape, t, logits);
            if (classes != classNames.size()) {
                throw new BadInputException("teacher " + t.importPath() + " output '" + logits + "' has " + classes + " values per image but the examples have "
                        + classNames.size() + " classes");
            }
            storage.writeBytes(Storage.join(out.staging(), OnnxTeacher.MODEL_FILE), bytes);
            Map<String, Object> p = new java.util.LinkedHashMap<>();
            p.put("format", "onnx");
            p.put("input_shape", List.of(shape.height(), shape.width(), shape.channels()));
            p.put("input_layout", t.onnx().layout() + " float32, (pixel * " + t.onnx().scale() + " - mean) / std");
            p.put("classes", classNames.size());
            p.put("class_names", classNames);
            p.put("parameters", graph.parameters());
            p.put("model_bytes", (long) bytes.length);
            p.put("role", "teacher");
            p.put("imported_from", t.importPath());
            p.put("model_sha256", hash);
            Map<String, Object> onnx = new java.util.LinkedHashMap<>();
            onnx.put("opset", graph.opset());
            onnx.put("producer_name", graph.producerName());
            onnx.put("producer_version", graph.producerVersion());
            onnx.put("input_name", graph.inputName());
            onnx.put("input_dims", graph.inputShapeText());
            onnx.put("output_names", graph.outputNames());
            onnx.put("logits_output", logits);
            onnx.put("layout", t.onnx().layout());
            onnx.put("scale", t.onnx().scale());
            onnx.put("mean", t.onnx().mean());
            onnx.put("std", t.onnx().std());
            p.put("onnx", onnx);
            Manifest manifest = new Manifest("model", Manifest.FORMAT_VERSION, 0, hash, List.of(), p, provenance);
            out.commit(manifest);
            log.info("teacher: imported ONNX model {} (opset {}, {} {}, input '{}' {}, outputs {}) into {}", t.importPath(), graph.opset(),
                    graph.producerName(), graph.producerVersion(), graph.inputName(), graph.inputShapeText(), graph.outputNames(), dir);
            return manifest;
        } catch (RuntimeException e) {
            out.abandon();
            throw e;
        }
    }

    /** {@code teacher.onnx.logits-output}, or the model's first output when blank; an unknown name is a one-line error. */
    public static String logitsOutput(OnnxGraph graph, String configured, String source) {
        if (configured.isBlank()) {
            return graph.outputNames().get(0);
        }
        if (!graph.outputNames().contains(configured)) {
            throw new BadInputException("config key 'teacher.onnx.logits-output' is '" + configured + "' but teacher " + source
                    + " has outputs " + graph.outputNames());
        }
        return configured;
    }

    /** Runs one blank image in ONNX Runtime (1 thread) and returns the logits' values per image. */
    private static long probeClasses(byte[] bytes, OnnxGraph graph, ImageShape shape, TeacherSettings t, String logits) {
        OnnxTeacher teacher = new OnnxTeacher(graph.inputName(), shape, t.onnx());
        float[] x = new float[shape.pixelCount()];
        teacher.fill(new byte[shape.pixelCount()], x, 0);
        try (OnnxModels.Runner runner = OnnxModels.open(bytes, 1)) {
            OnnxModels.Runner.Tensor out = teacher.run(runner, x, 1, List.of(logits)).get(logits);
            if (out.shape().length != 2 || out.shape()[0] != 1) {
                throw new BadInputException("teacher " + t.importPath() + " output '" + logits + "' has shape " + java.util.Arrays.toString(out.shape())
                        + " for one image; logits must be [N, classes]");
            }
            return out.shape()[1];
        } catch (IllegalStateException e) {
            throw new BadInputException("teacher " + t.importPath() + " does not run on " + shape + " images: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /** Runs one blank image through the model so a wrong input shape fails here, with a clear line. */
    static void checkAccepts(ComputationGraph graph, ImageShape shape, String source) {
        if (graph.getConfiguration().getNetworkInputs().size() != 1) {
            throw new BadInputException("teacher " + source + " has " + graph.getConfiguration().getNetworkInputs().size()
                    + " inputs; expected one image input");
        }
        try {
            graph.output(false, Nd4j.zeros(1, shape.channels(), shape.height(), shape.width()));
        } catch (RuntimeException e) {
            throw new BadInputException("teacher " + source + " does not accept " + shape + " images (NCHW [1, " + shape.channels() + ", "
                    + shape.height() + ", " + shape.width() + "]): " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    private static Manifest originManifest(Storage storage, String importPath) {
        String sidecar = importPath.replaceAll("\\.zip$", "") + ".manifest.json";
        try (InputStream in = Models.openModel(storage, sidecar)) {
            return Json.read(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8), Manifest.class, sidecar);
        } catch (BadInputException | java.io.IOException e) {
            return null;
        }
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
