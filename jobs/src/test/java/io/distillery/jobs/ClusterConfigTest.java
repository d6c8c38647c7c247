package io.distillery.jobs;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import io.distillery.data.ImageShape;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.Models;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TapSpec;
import io.distillery.table.TeacherOutputsTable;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shipped configs stay valid: example pipelines load, and every spark-defaults file passes every JVM option. */
class ClusterConfigTest {
    private static final Path ROOT = Path.of(System.getProperty("distillery.repo.root", ".."));

    @Test
    void examplePipelinesLoad() throws IOException {
        List<Path> files;
        try (var list = Files.list(ROOT.resolve("cluster-config/pipelines"))) {
            files = list.filter(p -> p.toString().endsWith(".conf")).sorted().toList();
        }
        assertFalse(files.isEmpty());
        for (Path f : files) {
            PipelineConfig c = ConfigLoader.load(f.toFile(), null, List.of());
            assertFalse(c.runDir().isBlank(), f.toString());
        }
        ConfigLoader.load(null, "demo/fashion-mnist.conf", List.of());
    }

    /**
     * Each method-*.conf builds its student graph against teacher outputs shaped as precompute would
     * store its taps from the shipped teacher: the configured layers, taps and widths fit together.
     */
    @Test
    void methodPipelinesBuildTheirStudentGraphs() throws IOException {
        ComputationGraph teacher = Models.fromBytes(getClass().getResourceAsStream("/demo/fashion-mnist-resnet.zip").readAllBytes(), false);
        Map<String, INDArray> acts = teacher.feedForward(Nd4j.zeros(1, 1, 28, 28), false);
        List<Path> files;
        try (var list = Files.list(ROOT.resolve("cluster-config/pipelines"))) {
            files = list.filter(p -> p.getFileName().toString().startsWith("method-")).sorted().toList();
        }
        int singleTeacher = 0;
        for (Path f : files) {
            PipelineConfig c = ConfigLoader.load(f.toFile(), null, List.of());
            if (c.ensemble()) {
                // Ensemble pipelines: their teacher selection resolves (graphs are built in EnsembleRunTest and DataFreeRunTest).
                assertTrue(c.members().size() >= 2 && !c.distillTeachers().isEmpty(), f.toString());
                continue;
            }
            singleTeacher++;
            List<ColumnSpec> columns = new ArrayList<>(List.of(
                    new ColumnSpec(TeacherOutputsTable.LOGITS, "binary", "float32-le", List.of(10), "K", null, "logits")));
            for (TapSpec tap : TapSpec.parseAll("precompute.taps", c.precompute().taps())) {
                long[] s = acts.get(tap.layer()).shape();
                List<Integer> shape = switch (tap.transform()) {
                    case TapSpec.ATTENTION -> List.of((int) s[2], (int) s[3]);
                    case TapSpec.PRUNE_L1 -> List.of(tap.parameter(), (int) s[2], (int) s[3]);
                    default -> List.of((int) s[1], (int) s[2], (int) s[3]);
                };
                columns.add(new ColumnSpec(tap.column(), "binary", "float16-le", shape, null, tap.layer(), "tap",
                        tap.transform().equals(TapSpec.RAW) ? null : tap.transformText(), null));
            }
            TeacherOutputs outputs = new TeacherOutputs("resnet", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 1, "h",
                    columns, Map.of(), null));
            var methods = StudentGraphs.methods(c.distill(), 10, () -> teacher);
            var graph = StudentGraphs.build(c.student().model(), new ImageShape(28, 28, 1), 10, c.distill().train(), methods, outputs);
            assertTrue(graph.outputs().size() > 2, f + ": " + graph.outputs());
            assertTrue(c.distill().kdWeight() > 0, f + " composes with KD");
        }
        assertTrue(singleTeacher >= 4, files.toString());
    }

    @Test
    void everySparkDefaultsFileCarriesTheJvmOptions() throws IOException {
        List<String> options = Files.readAllLines(ROOT.resolve("cluster-config/jvm-options")).stream()
                .filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
        try (var list = Files.list(ROOT.resolve("cluster-config"))) {
            for (Path f : list.filter(p -> p.getFileName().toString().startsWith("spark-defaults.")).toList()) {
                String text = Files.readString(f);
                String driver = text.lines().filter(l -> l.startsWith("spark.driver.extraJavaOptions")).findFirst().orElse("");
                for (String option : options) {
                    assertTrue(driver.contains(option), f.getFileName() + " driver options lack " + option);
                }
                // Local mode has no executor JVM; the loopback standalone cluster (local-cluster) has.
                if (!f.getFileName().toString().equals("spark-defaults.local.conf")) {
                    String executor = text.lines().filter(l -> l.startsWith("spark.executor.extraJavaOptions")).findFirst().orElse("");
                    for (String option : options) {
                        assertTrue(executor.contains(option), f.getFileName() + " executor options lack " + option);
                    }
                }
            }
        }
    }
}
