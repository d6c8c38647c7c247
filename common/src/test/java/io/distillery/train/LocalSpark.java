package io.distillery.train;

import org.apache.spark.sql.SparkSession;

/** A local[2] session configured as Distillery's jobs run (Kryo with ND4J's registrator). */
final class LocalSpark {
    private LocalSpark() {
    }

    static SparkSession start(String appName) {
        return SparkSession.builder().master("local[2]").appName(appName)
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator")
                .getOrCreate();
    }
}
