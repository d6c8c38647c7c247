package io.distillery.jobs.cli;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.jobs.stages.StageContext;
import io.distillery.model.Models;
import io.distillery.onnx.OnnxExport;
import io.distillery.onnx.OnnxModels;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import static org.apache.spark.sql.functions.col;

/**
 * {@code distill export}: writes {@code model.onnx} beside the {@code model.zip} of the student, the
 * baseline and the teacher (those that exist), through a temporary name and a rename. Each export is
 * run in ONNX Runtime on test images and compared with DL4J before it is written. An existing
 * {@code model.onnx} exported from the same model zip by the same mapping is kept; one from another
 * model is replaced only with {@code --force}.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write the student, baseline and teacher (those present) as ONNX: students/NAME/model.onnx, teachers/NAME/model.onnx.",
                "Input 'input' float32 [N, C, H, W] (pixels / 255), outputs 'logits' and 'probabilities'. Each file is checked "
                        + "against DL4J in ONNX Runtime on test images before it is written."})
final class ExportCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ExportCommand.class);
    static final String ONNX_FILE = "model.onnx";
    static final String META_SOURCE = "distillery.source_sha256";
    static final String META_ROLE = "distillery.role";
    static final String META_NAME = "distillery.name";
    static final String META_CLASSES = "distillery.class_names";
    static final String META_CHECK = "distillery.check";

    @Mixin
    PipelineOptions options;

    @Option(names = "--check-images", paramLabel = "N", defaultValue = "256",
            description = "Test images run in both DL4J and ONNX Runtime before writing (default: ${DEFAULT-VALUE}; 0 skips the check).")
    int checkImages;

    @Option(names = "--tolerance", paramLabel = "X", defaultValue = "1e-3",
            description = "Largest |logit difference| the check accepts (default: ${DEFAULT-VALUE}).")
    double tolerance;

    /** One model to export. */
    private record Target(String role, String dir, String onnxPath, String sourceHash) {
    }

    @Override
    public Integer call() {
        List<String> lines = StageRunner.run("export", options, options.load(null), this::export);
        lines.forEach(System.out::println);
        return 0;
    }

    private List<String> export(StageContext ctx) {
        Storage storage = ctx.storage();
        Map<String, String> dirs = new LinkedHashMap<>();
        dirs.put("student", ctx.layout().student());
        dirs.put("baseline", ctx.layout().baseline());
        dirs.put("teacher", ctx.layout().teacher());
        // Every refusal and every check comes before the first write: a failed run writes nothing.
        List<Target> todo = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        for (var e : dirs.entrySet()) {
            String dir = e.getValue();
            String zip = Storage.join(dir, Models.MODEL_FILE);
            if (!storage.exists(Storage.join(dir, Manifest.FILE)) || !storage.exists(zip)) {
                log.info("export: no {} model in {}, skipping", e.getKey(), dir);
                continue;
            }
            String onnxPath = Storage.join(dir, ONNX_FILE);
            String hash = storage.sha256(zip);
            if (storage.exists(onnxPath)) {
                Map<String, String> meta = OnnxExport.metadata(storage.readBytes(onnxPath));
                boolean same = hash.equals(meta.get(META_SOURCE)) && OnnxExport.MAPPING_VERSION.equals(meta.get(OnnxExport.META_MAPPING));
                if (same && !ctx.force()) {
                    lines.add(String.format("%-8s %s is up to date (exported from %s), kept", e.getKey(), onnxPath, hash));
                    continue;
                }
                if (!ctx.force()) {
                    throw new BadInputException("output " + onnxPath + " exists and was not exported from " + zip + " (" + hash + ") by this "
                            + "exporter (its source: " + meta.getOrDefault(META_SOURCE, "unknown") + ", mapping "
                            + meta.getOrDefault(OnnxExport.META_MAPPING, "unknown") + "); pass --force to replace it");
                }
            }
            todo.add(new Target(e.getKey(), dir, onnxPath, hash));
        }
        if (todo.isEmpty() && lines.isEmpty()) {
            throw new BadInputException("nothing to export: no model.zip under " + String.join(", ", dirs.values())
                    + "; run 'distill distill' (or 'distill teacher') first");
        }
        Manifest examples = todo.isEmpty() ? null : ctx.require(ctx.layout().examples(), "prep");
        INDArray images = null;
        Map<Target, byte[]> exported = new LinkedHashMap<>();
        Map<Target, String> checks = new LinkedHashMap<>();
        for (Target t : todo) {
            Manifest model = Manifest.read(storage, t.dir());
            ImageShape shape = inputShape(model, examples);
            ComputationGraph graph = Models.fromBytes(storage.readBytes(Storage.join(t.dir(), Models.MODEL_FILE)), false);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put(META_ROLE, t.role());
            meta.put(META_NAME, t.dir().substring(t.dir().lastIndexOf('/') + 1));
            meta.put(META_SOURCE, t.sourceHash());
            Object classNames = model.properties().getOrDefault("class_names", ExamplesTable.classNames(examples));
            if (classNames != null) {
                meta.put(META_CLASSES, Json.line(classNames));
            }
            String check = "not checked against DL4J (--check-images 0)";
            if (checkImages > 0) {
                if (images == null) {
                    images = testImages(ctx, shape, checkImages);
                }
                OnnxModels.Comparison cmp = OnnxModels.compare(graph, OnnxExport.toBytes(graph, shape, meta), images, 64);
                String result = cmp.images() + " test images: " + cmp.summary();
                if (!cmp.passes(tolerance)) {
                    throw new BadInputException("the ONNX export of " + t.role() + " " + t.dir() + " disagrees with DL4J on " + result
                            + " (tolerance " + tolerance + ", --tolerance); nothing written");
                }
                meta.put(META_CHECK, result);
                check = "checked against DL4J on " + result;
            }
            exported.put(t, OnnxExport.toBytes(graph, shape, meta));
            checks.put(t, check);
        }
        // Written only once every model has exported and passed its check.
        for (var e : exported.entrySet()) {
            Target t = e.getKey();
            storage.writeBytes(t.onnxPath(), e.getValue()); // through <path>.tmp and a rename
            lines.add(String.format("%-8s %s: %,d bytes (opset %d), %s", t.role(), t.onnxPath(), e.getValue().length, OnnxExport.OPSET,
                    checks.get(t)));
            log.info("export: wrote {} ({} bytes), {}", t.onnxPath(), e.getValue().length, checks.get(t));
        }
        return lines;
    }

    @SuppressWarnings("unchecked")
    private static ImageShape inputShape(Manifest model, Manifest examples) {
        Object s = model.properties().get("input_shape");
        if (s instanceof List<?> l && l.size() == 3) {
            List<Number> hwc = (List<Number>) l;
            return new ImageShape(hwc.get(0).intValue(), hwc.get(1).intValue(), hwc.get(2).intValue());
        }
        return ExamplesTable.shape(examples);
    }

    /** The first {@code n} test images by id, NCHW, pixels / 255. */
    private static INDArray testImages(StageContext ctx, ImageShape shape, int n) {
        List<Row> rows = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("test"))
                .orderBy(ExamplesTable.ID).select(ExamplesTable.IMAGE).limit(n).collectAsList();
        if (rows.isEmpty()) {
            throw new BadInputException("the examples in " + ctx.layout().examples() + " have no test images to check the export on; "
                    + "pass --check-images 0 to skip the check");
        }
        float[] data = new float[rows.size() * shape.pixelCount()];
        for (int i = 0; i < rows.size(); i++) {
            ExamplesTable.toChw(rows.get(i).getAs(ExamplesTable.IMAGE), shape, data, i * shape.pixelCount());
        }
        return Nd4j.create(data, new long[]{rows.size(), shape.channels(), shape.height(), shape.width()}, 'c');
    }
}
