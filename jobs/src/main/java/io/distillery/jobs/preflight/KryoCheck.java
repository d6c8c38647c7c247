package io.distillery.jobs.preflight;

import org.apache.spark.SparkConf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Kryo with ND4J's registrator, which must be on the class path. */
public final class KryoCheck {
    static final String NAME = "kryo";
    static final String KRYO = "org.apache.spark.serializer.KryoSerializer";
    static final String ND4J_REGISTRATOR = "org.nd4j.kryo.Nd4jRegistrator";
    private static final String SET = "set spark.serializer=" + KRYO + " and spark.kryo.registrator=" + ND4J_REGISTRATOR;

    private KryoCheck() {
    }

    public static Check check(SparkConf conf, ClassLoader loader) {
        String serializer = conf.get("spark.serializer", "org.apache.spark.serializer.JavaSerializer");
        List<String> registrators = new ArrayList<>(Arrays.stream(conf.get("spark.kryo.registrator", "").split(","))
                .map(String::trim).filter(s -> !s.isEmpty()).toList());
        if (!serializer.equals(KRYO)) {
            return Check.warn(NAME, "spark.serializer is " + serializer + ": parameters, updater state and minibatches cross the network "
                    + "with a slower serializer; " + SET);
        }
        for (String r : registrators) {
            try {
                Class.forName(r, false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                return Check.problem(NAME, "spark.kryo.registrator names " + r + ", which is not on the class path: every task that "
                        + "returns data will fail; set spark.kryo.registrator=" + ND4J_REGISTRATOR + " (nd4j-kryo, inside the Distillery jar)");
            }
        }
        if (!registrators.contains(ND4J_REGISTRATOR)) {
            return Check.problem(NAME, "spark.kryo.registrator " + (registrators.isEmpty() ? "is not set" : "is " + String.join(",", registrators))
                    + ": Kryo cannot serialize ND4J arrays (their data is off-heap) without ND4J's registrator; set spark.kryo.registrator="
                    + (registrators.isEmpty() ? "" : String.join(",", registrators) + ",") + ND4J_REGISTRATOR);
        }
        return Check.ok(NAME, "spark.serializer=KryoSerializer, spark.kryo.registrator=" + String.join(",", registrators));
    }

    /** True when a named registrator cannot be loaded: tasks returning results fail, so the executor probes are skipped. */
    static boolean registratorMissing(Check kryo) {
        return kryo.isProblem() && kryo.message().contains("which is not on the class path");
    }
}
