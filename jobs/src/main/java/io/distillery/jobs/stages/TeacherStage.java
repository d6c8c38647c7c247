package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig.TeacherSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.StudentGraphs;
import io.distillery.model.Models;
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

    public static Manifest run(StageContext ctx) {
        TeacherSettings t = ctx.config().teacher();
        if (t.imported()) {
            return importModel(ctx, t);
        }
        int classes = ExamplesTable.classNames(ctx.require(ctx.layout().examples(), "prep")).size();
        return TrainStage.run(ctx, new TrainStage.Job("teacher", t.name(), ctx.layout().teacher(), t.model(), t.train(),
                StudentGraphs.labelsOnly(classes), null, Map.of()));
    }

    static Manifest importModel(StageContext ctx, TeacherSettings t) {
        Storage storage = ctx.storage();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        byte[] bytes;
        try (InputStream in = Models.openModel(storage, t.importPath())) {
            bytes = in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + t.importPath(), e);
        }
        String hash = "sha256:" + java.util.HexFormat.of().formatHex(sha256(bytes));
        Provenance provenance = Provenance.of("teacher-import", Json.line(Map.of("import", t.importPath())),
                Map.of("model", hash));
        StagedOutput out = StagedOutput.open(storage, ctx.layout().teacher(), provenance, ctx.force(), false);
        if (out.upToDate()) {
            log.info("teacher: {} is up to date (same imported model), skipping", ctx.layout().teacher());
            return Manifest.read(storage, ctx.layout().teacher());
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
            log.info("teacher: imported {} ({} parameters) into {}", t.importPath(), graph.numParams(), ctx.layout().teacher());
            return manifest;
        } catch (RuntimeException e) {
            out.abandon();
            throw e;
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
