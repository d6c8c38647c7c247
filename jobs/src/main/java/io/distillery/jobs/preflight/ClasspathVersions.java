package io.distillery.jobs.preflight;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Versions of the DL4J/ND4J artifacts on a JVM's class path, read from the {@code pom.properties}
 * Maven puts in every jar (the fat jar keeps them). An artifact can appear more than once: a cluster
 * whose {@code jars/} holds another DL4J, beside the one in our jar, is the classic way to get
 * {@code NoSuchMethodError}s on executors.
 */
public final class ClasspathVersions {
    /** artifactId by groupId, in the order they are reported. */
    static final List<String[]> ARTIFACTS = List.of(
            new String[]{"org.nd4j", "nd4j-api"},
            new String[]{"org.nd4j", "nd4j-native"},
            new String[]{"org.deeplearning4j", "deeplearning4j-nn"},
            new String[]{"org.deeplearning4j", "dl4j-spark_2.12"},
            new String[]{"org.nd4j", "nd4j-kryo_2.12"});

    private ClasspathVersions() {
    }

    /** The distinct versions of each artifact found, by artifactId; an empty list when none was found. */
    public static Map<String, List<String>> find(ClassLoader loader) {
        Map<String, List<String>> versions = new LinkedHashMap<>();
        for (String[] artifact : ARTIFACTS) {
            List<String> found = new ArrayList<>();
            try {
                Enumeration<URL> urls = loader.getResources("META-INF/maven/" + artifact[0] + "/" + artifact[1] + "/pom.properties");
                while (urls.hasMoreElements()) {
                    try (InputStream in = urls.nextElement().openStream()) {
                        Properties p = new Properties();
                        p.load(in);
                        String v = p.getProperty("version");
                        if (v != null && !found.contains(v)) {
                            found.add(v);
                        }
                    }
                }
            } catch (IOException e) {
                // Reported as not found.
            }
            versions.put(artifact[1], found);
        }
        return versions;
    }

    /** The version this build expects for an artifact: the core's or dl4j-spark's. */
    static String expected(String artifactId, String coreVersion, String sparkIntegrationVersion) {
        return artifactId.startsWith("dl4j-spark") || artifactId.startsWith("nd4j-kryo") ? sparkIntegrationVersion : coreVersion;
    }
}
