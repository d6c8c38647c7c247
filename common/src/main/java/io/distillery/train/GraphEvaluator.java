package io.distillery.train;

import io.distillery.data.ImageShape;
import io.distillery.method.LabelSource;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import scala.Tuple2;

import java.util.Iterator;
import java.util.List;

/**
 * Top-1 accuracy of a model over a table of examples, computed where the data lives: the model is
 * broadcast, each partition counts its correct predictions, and only two numbers per partition
 * return to the driver.
 */
public final class GraphEvaluator {
    private GraphEvaluator() {
    }

    public record Accuracy(long correct, long total) {
        public double value() {
            return total == 0 ? Double.NaN : (double) correct / total;
        }
    }

    /** Predictions are the argmax of the graph's first output (the class head of every Distillery model). */
    public static Accuracy accuracy(JavaSparkContext sc, byte[] model, Dataset<Row> examples, ImageShape shape, int classes,
                                    int batchSize) {
        return accuracy(sc, List.of(model), examples, shape, classes, batchSize);
    }

    /**
     * The accuracy of an ensemble: predictions are the argmax of the mean of the models' first
     * outputs (their softmax probabilities); with one model, that model's accuracy.
     */
    public static Accuracy accuracy(JavaSparkContext sc, List<byte[]> models, Dataset<Row> examples, ImageShape shape, int classes,
                                    int batchSize) {
        List<Broadcast<byte[]>> broadcasts = models.stream().map(sc::broadcast).toList();
        try {
            BatchAssembler assembler = new BatchAssembler(shape, List.of(new LabelSource.ClassLabels(classes)), batchSize);
            Tuple2<Long, Long> sum = examples.javaRDD()
                    .mapPartitions((Iterator<Row> rows) -> List.of(count(broadcasts.stream().map(ModelCache::get).toList(),
                            assembler.batches(rows))).iterator())
                    .reduce((x, y) -> new Tuple2<>(x._1 + y._1, x._2 + y._2));
            return new Accuracy(sum._1, sum._2);
        } finally {
            broadcasts.forEach(Broadcast::destroy);
        }
    }

    static Tuple2<Long, Long> count(List<ComputationGraph> graphs, Iterator<MultiDataSet> batches) {
        long correct = 0;
        long total = 0;
        while (batches.hasNext()) {
            MultiDataSet mds = batches.next();
            INDArray probabilities = graphs.get(0).output(false, mds.getFeatures(0))[0].dup();
            for (int g = 1; g < graphs.size(); g++) {
                probabilities.addi(graphs.get(g).output(false, mds.getFeatures(0))[0]);
            }
            INDArray predicted = probabilities.argMax(1);
            INDArray truth = mds.getLabels(0).argMax(1);
            correct += predicted.eq(truth).castTo(org.nd4j.linalg.api.buffer.DataType.INT64).sumNumber().longValue();
            total += truth.length();
        }
        return new Tuple2<>(correct, total);
    }
}
