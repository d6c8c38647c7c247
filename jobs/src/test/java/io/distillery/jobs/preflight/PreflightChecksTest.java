package io.distillery.jobs.preflight;

import io.distillery.errors.BadInputException;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The preflight checks as functions of their inputs, without Spark jobs: each problem is one line saying what to set. */
class PreflightChecksTest {
    private static final Path ROOT = Path.of(System.getProperty("distillery.repo.root", ".."));
    private static final long G = 1L << 30;
    private static final String OPTS = "--add-opens=java.base/java.lang=ALL-UNNAMED -Dorg.eclipse.deeplearning4j.helpers.disable=false ";
    private static final MemoryCheck.Limits DRIVER = new MemoryCheck.Limits(6 * G, 6 * G, 14 * G);

    private static SparkConf shipped(String file) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(ROOT.resolve("cluster-config").resolve(file))) {
            p.load(r);
        }
        SparkConf conf = new SparkConf(false);
        p.forEach((k, v) -> conf.set(k.toString(), v.toString().trim()));
        return conf;
    }

    private static SparkConf executors(String memory, String overhead, String javaOptions) {
        SparkConf conf = new SparkConf(false).set("spark.executor.memory", memory).set("spark.executor.extraJavaOptions", OPTS + javaOptions);
        return overhead == null ? conf : conf.set("spark.executor.memoryOverhead", overhead);
    }

    @Test
    void shippedSparkDefaultsPassTheMemoryAndKryoChecks() throws IOException {
        for (String[] c : new String[][]{{"spark-defaults.yarn.conf", "yarn"}, {"spark-defaults.k8s.conf", "k8s://https://10.0.0.1:6443"},
                {"spark-defaults.standalone.conf", "spark://master:7077"}, {"spark-defaults.local.conf", "local[*]"}}) {
            SparkConf conf = shipped(c[0]);
            Check memory = MemoryCheck.check(conf, c[1], DRIVER);
            assertEquals(Check.Status.OK, memory.status(), c[0] + ": " + memory.line());
            Check kryo = KryoCheck.check(conf, getClass().getClassLoader());
            assertEquals(Check.Status.OK, kryo.status(), c[0] + ": " + kryo.line());
        }
        Check yarn = MemoryCheck.check(shipped("spark-defaults.yarn.conf"), "yarn", DRIVER);
        assertTrue(yarn.message().contains("container 10g = heap 4g + overhead 6g; ND4J maxbytes 4g, maxphysicalbytes 9g"), yarn.line());
    }

    @Test
    void executorOffHeapLargerThanTheContainerAllowsIsOneLineSayingWhatToSet() {
        // 8G of ND4J off-heap with Spark's default overhead (10% of 4g, so 410m).
        Check c = MemoryCheck.check(executors("4g", null, "-Dorg.bytedeco.javacpp.maxbytes=8G -Dorg.bytedeco.javacpp.maxphysicalbytes=13G"),
                "yarn", DRIVER);
        // The README shows this line.
        assertEquals("PROBLEM memory    executors (YARN): container 4.4g = heap 4g + overhead 410m (Spark's default); ND4J maxbytes 8g, "
                + "maxphysicalbytes 13g: the overhead does not hold ND4J's maxbytes plus about 1g for the JVM itself, so YARN will kill "
                + "executors; set spark.executor.memoryOverhead=10g (maxbytes + 2g), or lower -Dorg.bytedeco.javacpp.maxbytes in "
                + "spark.executor.extraJavaOptions", c.line());

        // maxbytes unset: javacpp lets ND4J take as much as the heap.
        Check unset = MemoryCheck.check(executors("8g", "2g", ""), "k8s://https://api:6443", DRIVER);
        assertTrue(unset.isProblem(), unset.line());
        assertTrue(unset.message().contains("maxbytes 8g (not set: javacpp's default, the heap)"), unset.line());
        assertTrue(unset.message().contains("Kubernetes will kill executors; set spark.executor.memoryOverhead=10g"), unset.line());
    }

    @Test
    void maxPhysicalBytesBeyondTheContainerOrBelowHeapPlusMaxBytesIsAProblem() {
        Check beyond = MemoryCheck.check(executors("4g", "6g", "-Dorg.bytedeco.javacpp.maxbytes=4G -Dorg.bytedeco.javacpp.maxphysicalbytes=12G"),
                "yarn", DRIVER);
        assertTrue(beyond.isProblem(), beyond.line());
        assertTrue(beyond.message().contains("maxphysicalbytes is larger than the container"), beyond.line());
        assertTrue(beyond.message().contains("set -Dorg.bytedeco.javacpp.maxphysicalbytes=9g (container - 1g)"), beyond.line());

        Check below = MemoryCheck.check(executors("4g", null, "-Dorg.bytedeco.javacpp.maxbytes=4G -Dorg.bytedeco.javacpp.maxphysicalbytes=6G"),
                "spark://m:7077", DRIVER);
        assertTrue(below.isProblem(), below.line());
        assertTrue(below.message().contains("set -Dorg.bytedeco.javacpp.maxphysicalbytes=9g in spark.executor.extraJavaOptions"), below.line());

        Check local = MemoryCheck.check(new SparkConf(false), "local[2]", new MemoryCheck.Limits(8 * G, 12 * G, 16 * G));
        assertTrue(local.isProblem(), local.line());
        assertTrue(local.message().contains("at least 20g"), local.line());

        Check unreadable = MemoryCheck.check(executors("4g", "6g", "-Dorg.bytedeco.javacpp.maxbytes=lots"), "yarn", DRIVER);
        assertTrue(unreadable.isProblem());
        assertTrue(unreadable.message().startsWith("cannot read -Dorg.bytedeco.javacpp.maxbytes=lots in spark.executor.extraJavaOptions"), unreadable.line());
    }

    @Test
    void javacppSizesParseAsJavacppReadsThem() {
        assertEquals(OptionalLong.of(4 * G), MemoryCheck.parseBytes("4G", G));
        assertEquals(OptionalLong.of(4096L << 20), MemoryCheck.parseBytes("4096mb", G));
        assertEquals(OptionalLong.of(G / 2), MemoryCheck.parseBytes("50%", G));
        assertEquals(OptionalLong.of(12345), MemoryCheck.parseBytes("12345", G));
        assertEquals(OptionalLong.empty(), MemoryCheck.parseBytes("4.5g", G));
        assertEquals("9G", MemoryCheck.option("-Xss4m -Dorg.bytedeco.javacpp.maxbytes=1G -Dorg.bytedeco.javacpp.maxBytes=9G",
                "org.bytedeco.javacpp.maxbytes", "org.bytedeco.javacpp.maxBytes"));
        assertEquals(null, MemoryCheck.option("-Xss4m", "org.bytedeco.javacpp.maxbytes"));
    }

    @Test
    void kryoWithoutNd4jsRegistratorOrWithAMissingClassIsAProblem() {
        ClassLoader loader = getClass().getClassLoader();
        SparkConf kryo = new SparkConf(false).set("spark.serializer", KryoCheck.KRYO);
        Check unset = KryoCheck.check(kryo, loader);
        assertTrue(unset.isProblem());
        assertTrue(unset.message().startsWith("spark.kryo.registrator is not set"), unset.line());
        assertTrue(unset.message().endsWith("set spark.kryo.registrator=org.nd4j.kryo.Nd4jRegistrator"), unset.line());

        Check missing = KryoCheck.check(kryo.clone().set("spark.kryo.registrator", "com.example.NoSuchRegistrator"), loader);
        assertTrue(missing.isProblem());
        assertTrue(missing.message().contains("com.example.NoSuchRegistrator, which is not on the class path"), missing.line());
        assertTrue(KryoCheck.registratorMissing(missing));

        Check other = KryoCheck.check(kryo.clone().set("spark.kryo.registrator", "io.distillery.jobs.preflight.PreflightChecksTest"), loader);
        assertTrue(other.isProblem());
        assertTrue(other.message().endsWith("set spark.kryo.registrator=io.distillery.jobs.preflight.PreflightChecksTest,org.nd4j.kryo.Nd4jRegistrator"),
                other.line());

        assertEquals(Check.Status.OK, KryoCheck.check(kryo.clone().set("spark.kryo.registrator", KryoCheck.ND4J_REGISTRATOR), loader).status());
        assertEquals(Check.Status.WARN, KryoCheck.check(new SparkConf(false), loader).status());
    }

    private static JvmFacts jvm(String executor, String spark, String scala, Map<String, List<String>> artifacts, String error) {
        return new JvmFacts(executor, "host-" + executor, "17.0.12", spark, scala, artifacts, "CPU", "OPENBLAS", "on", 4 * G, 4 * G, 9 * G, error);
    }

    private static final Map<String, List<String>> AS_BUILT = Map.of("nd4j-api", List.of("1.0.0-M2.1"), "dl4j-spark_2.12", List.of("1.0.0-M2"));

    private static List<Check> versions(JvmFacts driver, List<JvmFacts> executors) {
        return VersionChecks.check(driver, executors, "3.5.1", "2.12.18", "1.0.0-M2.1", "1.0.0-M2");
    }

    @Test
    void versionsMatchingTheBuildAreOkAndOthersAreOneLineEach() {
        JvmFacts driver = jvm("driver", "3.5.3", "2.12.18", AS_BUILT, null);
        List<Check> ok = versions(driver, List.of(jvm("1", "3.5.3", "2.12.18", AS_BUILT, null)));
        assertTrue(ok.stream().noneMatch(Check::isProblem), ok.toString());
        assertEquals(3, ok.size());
        assertTrue(ok.get(0).message().equals("Spark 3.5.3 on the driver and 1 executor(s) (built with 3.5.1)"), ok.get(0).line());

        List<Check> oldSpark = versions(jvm("driver", "3.4.2", "2.12.17", AS_BUILT, null), List.of());
        assertTrue(oldSpark.get(0).isProblem());
        assertTrue(oldSpark.get(0).message().contains("the driver runs Spark 3.4.2 but Distillery is built for Spark 3.5.x (3.5.1)"), oldSpark.get(0).line());

        List<Check> scala213 = versions(jvm("driver", "3.5.1", "2.13.8", AS_BUILT, null), List.of());
        assertTrue(scala213.get(1).isProblem());
        assertTrue(scala213.get(1).message().contains("not -scala2.13"), scala213.get(1).line());

        List<Check> mixed = versions(driver, List.of(jvm("7", "3.5.0", "2.12.18", AS_BUILT, null)));
        assertTrue(mixed.get(0).isProblem());
        assertTrue(mixed.get(0).message().startsWith("executor 7 on host-7 runs Spark 3.5.0 but the driver runs 3.5.3"), mixed.get(0).line());

        List<Check> twoNd4j = versions(driver, List.of(jvm("2", "3.5.3", "2.12.18",
                Map.of("nd4j-api", List.of("1.0.0-M2.1", "1.0.0-beta7")), null)));
        Check dl4j = twoNd4j.get(2);
        assertTrue(dl4j.isProblem());
        assertTrue(dl4j.message().startsWith("nd4j-api 1.0.0-M2.1 and 1.0.0-beta7 are both on the class path of executor 2 on host-2"), dl4j.line());

        List<Check> wrong = versions(jvm("driver", "3.5.1", "2.12.18", Map.of("deeplearning4j-nn", List.of("1.0.0-M1.1")), null), List.of());
        assertTrue(wrong.get(2).message().startsWith("deeplearning4j-nn 1.0.0-M1.1 on the driver but Distillery is built with 1.0.0-M2.1"),
                wrong.get(2).line());
    }

    @Test
    void nd4jFailingOnAnExecutorNamesItAndTheError() {
        JvmFacts driver = jvm("driver", "3.5.1", "2.12.18", AS_BUILT, null);
        String error = "UnsatisfiedLinkError: no jnind4jcpu in java.library.path";
        List<Check> checks = ExecutorProbe.check(driver, List.of(jvm("1", "3.5.1", "2.12.18", AS_BUILT, null),
                jvm("2", "3.5.1", "2.12.18", AS_BUILT, error), jvm("3", "3.5.1", "2.12.18", AS_BUILT, error)));
        assertEquals(1, checks.size(), checks.toString());
        assertTrue(checks.get(0).isProblem());
        assertTrue(checks.get(0).message().startsWith("ND4J fails on executor 2 on host-2 and 1 more executor(s): " + error), checks.get(0).line());

        List<Check> ok = ExecutorProbe.check(driver, List.of(jvm("1", "3.5.1", "2.12.18", AS_BUILT, null)));
        assertEquals(Check.Status.OK, ok.get(0).status());
        assertTrue(ok.get(0).message().startsWith("ND4J CPU (OPENBLAS, oneDNN on) loads and computes on executor 1 on host-1"), ok.get(0).line());
    }

    @Test
    void onlySingleJvmMastersCountAsLocal() {
        assertTrue(Preflight.isLocal("local"));
        assertTrue(Preflight.isLocal("local[*]"));
        assertTrue(Preflight.isLocal("local[2,3]"));
        assertFalse(Preflight.isLocal("local-cluster[2,1,1024]"));
        assertFalse(Preflight.isLocal("spark://127.0.0.1:7077"));
        assertFalse(Preflight.isLocal("yarn"));
    }

    @Test
    void problemsBeforeAStageEndItWithOneLineNamingTheFirst() {
        Preflight.requireNoProblem(List.of(Check.ok("spark", "fine"), Check.warn("run-dir", "a local path")));
        BadInputException e = assertThrows(BadInputException.class, () -> Preflight.requireNoProblem(List.of(Check.ok("spark", "fine"),
                Check.problem("kryo", "spark.kryo.registrator is not set; set it"), Check.problem("memory", "too small"))));
        assertEquals("preflight: kryo: spark.kryo.registrator is not set; set it (and 1 more problem(s) printed above); "
                + "'distill preflight' repeats the checks, --no-preflight skips them", e.getMessage());
    }
}
