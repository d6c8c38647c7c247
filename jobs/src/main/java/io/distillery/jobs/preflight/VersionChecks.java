package io.distillery.jobs.preflight;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Spark, Scala and DL4J/ND4J versions of the driver and every probed executor against the ones this
 * build was compiled with. Spark must match to the minor version (3.5.x), Scala to the binary
 * version (2.12), DL4J/ND4J exactly, and every executor must run what the driver runs.
 */
public final class VersionChecks {
    private VersionChecks() {
    }

    public static List<Check> check(JvmFacts driver, List<JvmFacts> executors, String builtSpark, String builtScala,
                                    String builtDl4j, String builtDl4jSpark) {
        List<Check> checks = new ArrayList<>();
        checks.addAll(spark(driver, executors, builtSpark));
        checks.addAll(scala(driver, executors, builtScala));
        checks.addAll(dl4j(driver, executors, builtDl4j, builtDl4jSpark));
        return checks;
    }

    static List<Check> spark(JvmFacts driver, List<JvmFacts> executors, String built) {
        String name = "spark";
        if ("unknown".equals(built)) {
            return List.of(Check.warn(name, "Spark " + driver.sparkVersion() + "; this build does not record the Spark version it was built with"));
        }
        List<Check> problems = new ArrayList<>();
        if (!prefix(driver.sparkVersion(), 2).equals(prefix(built, 2))) {
            problems.add(Check.problem(name, "the driver runs Spark " + driver.sparkVersion() + " but Distillery is built for Spark "
                    + prefix(built, 2) + ".x (" + built + "); submit with a Spark " + prefix(built, 2) + " distribution (SPARK_HOME)"));
        }
        problems.addAll(differingExecutors(name, "Spark", driver.sparkVersion(), executors, JvmFacts::sparkVersion,
                "every node needs the same Spark (SPARK_HOME on each worker, spark.yarn.archive, or the image)"));
        return problems.isEmpty()
                ? List.of(Check.ok(name, "Spark " + driver.sparkVersion() + on(executors) + " (built with " + built + ")"))
                : problems;
    }

    static List<Check> scala(JvmFacts driver, List<JvmFacts> executors, String built) {
        String name = "scala";
        if ("unknown".equals(built)) {
            return List.of(Check.warn(name, "Scala " + driver.scalaVersion() + "; this build does not record the Scala version it was built with"));
        }
        List<Check> problems = new ArrayList<>();
        if (!prefix(driver.scalaVersion(), 2).equals(prefix(built, 2))) {
            problems.add(Check.problem(name, "the driver runs Scala " + driver.scalaVersion() + " but Distillery is built for Scala "
                    + prefix(built, 2) + " (" + built + "); use Spark's Scala " + prefix(built, 2) + " build (spark-3.5.x-bin-hadoop3, not -scala2.13)"));
        }
        problems.addAll(differingExecutors(name, "Scala", driver.scalaVersion(), executors, JvmFacts::scalaVersion,
                "every node needs the same Spark build"));
        return problems.isEmpty()
                ? List.of(Check.ok(name, "Scala " + driver.scalaVersion() + on(executors) + " (built with " + built + ")"))
                : problems;
    }

    static List<Check> dl4j(JvmFacts driver, List<JvmFacts> executors, String builtCore, String builtSpark) {
        String name = "dl4j";
        List<Check> problems = new ArrayList<>();
        List<JvmFacts> all = new ArrayList<>();
        all.add(driver);
        all.addAll(executors);
        Map<String, String> seen = new LinkedHashMap<>();
        for (JvmFacts jvm : all) {
            for (var e : jvm.artifacts().entrySet()) {
                String artifact = e.getKey();
                List<String> versions = e.getValue();
                String expected = ClasspathVersions.expected(artifact, builtCore, builtSpark);
                String problem = null;
                if (versions.size() > 1) {
                    problem = artifact + " " + String.join(" and ", versions) + " are both on the class path of " + jvm.where()
                            + "; remove the other DL4J/ND4J jars from the cluster's class path (Spark's jars/, spark.driver/executor.extraClassPath)";
                } else if (versions.size() == 1 && !"unknown".equals(expected) && !versions.get(0).equals(expected)) {
                    problem = artifact + " " + versions.get(0) + " on " + jvm.where() + " but Distillery is built with " + expected
                            + "; submit the Distillery jar alone, without another DL4J/ND4J on the class path";
                }
                if (problem != null && !problems.stream().anyMatch(c -> c.message().startsWith(artifact + " "))) {
                    problems.add(Check.problem(name, problem));
                }
                if (versions.size() == 1) {
                    seen.putIfAbsent(artifact, versions.get(0));
                }
            }
        }
        if (!problems.isEmpty()) {
            return problems;
        }
        if (seen.isEmpty()) {
            return List.of(Check.warn(name, "no DL4J/ND4J version information (META-INF/maven/*/pom.properties) on the class path; cannot tell which DL4J runs"));
        }
        List<String> parts = new ArrayList<>();
        seen.forEach((artifact, version) -> parts.add(artifact + " " + version));
        return List.of(Check.ok(name, String.join(", ", parts) + on(executors) + ", as built"));
    }

    private static List<Check> differingExecutors(String name, String what, String driverVersion, List<JvmFacts> executors,
                                                  java.util.function.Function<JvmFacts, String> version, String advice) {
        for (JvmFacts e : executors) {
            String v = version.apply(e);
            if (v != null && !v.equals(driverVersion)) {
                return List.of(Check.problem(name, e.where() + " runs " + what + " " + v + " but the driver runs " + driverVersion + "; " + advice));
            }
        }
        return List.of();
    }

    private static String on(List<JvmFacts> executors) {
        long remote = executors.stream().filter(e -> !"driver".equals(e.executorId())).count();
        return remote == 0 ? " on the driver" : " on the driver and " + remote + " executor(s)";
    }

    /** The first {@code parts} dot-separated parts: {@code prefix("3.5.1", 2)} is {@code 3.5}. */
    static String prefix(String version, int parts) {
        if (version == null) {
            return "?";
        }
        String[] p = version.split("[.-]");
        return String.join(".", java.util.Arrays.copyOf(p, Math.min(parts, p.length)));
    }
}
