package io.distillery.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * The code version recorded in every provenance record, and the versions of the stack this build
 * was compiled against ({@code distillery-build.properties}, filled in by Maven).
 */
public final class BuildInfo {
    private static final Properties PROPERTIES = load();

    private BuildInfo() {
    }

    public static String version() {
        return get("version");
    }

    /** Spark, e.g. {@code 3.5.1}. */
    public static String sparkVersion() {
        return get("spark.version");
    }

    /** Scala's full version, e.g. {@code 2.12.18}. */
    public static String scalaVersion() {
        return get("scala.version");
    }

    /** DL4J and ND4J core ({@code deeplearning4j-nn}, {@code nd4j-api}, {@code nd4j-native}). */
    public static String dl4jVersion() {
        return get("dl4j.version");
    }

    /** {@code dl4j-spark} and {@code nd4j-kryo}, released apart from the core. */
    public static String dl4jSparkVersion() {
        return get("dl4j.spark.version");
    }

    /** A build property, or "unknown" when the file or the key is missing (e.g. an IDE build without filtering). */
    public static String get(String key) {
        String value = PROPERTIES.getProperty(key);
        return value == null || value.startsWith("${") ? "unknown" : value;
    }

    private static Properties load() {
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("/distillery-build.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // Unknown versions are reported as such.
        }
        return p;
    }
}
