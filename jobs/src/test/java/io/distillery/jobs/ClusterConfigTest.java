package io.distillery.jobs;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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
                if (!f.getFileName().toString().contains("local")) {
                    String executor = text.lines().filter(l -> l.startsWith("spark.executor.extraJavaOptions")).findFirst().orElse("");
                    for (String option : options) {
                        assertTrue(executor.contains(option), f.getFileName() + " executor options lack " + option);
                    }
                }
            }
        }
    }
}
