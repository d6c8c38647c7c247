package io.distillery.jobs.stages;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.tensor.TensorEncoding;
import io.distillery.train.ModelCache;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The executor side of precompute: batched inference of the broadcast teacher over a partition of
 * (id, image) rows, emitting (id, view 0, encoded logits, encoded taps...) rows. The teacher runs in
 * inference mode (batch norm on its running statistics).
 */
final class TeacherInference implements Serializable {
    private final Broadcast<byte[]> model;
    private final ImageShape shape;
    private final List<String> taps;
    private final boolean logitsLayer;
    private final TensorEncoding logitsEncoding;
    private final TensorEncoding tapEncoding;
    private final int batchSize;

    TeacherInference(Broadcast<byte[]> model, ImageShape shape, List<String> taps, boolean logitsLayer, TensorEncoding logitsEncoding,
                     TensorEncoding tapEncoding, int batchSize) {
        this.model = model;
        this.shape = shape;
        this.taps = List.copyOf(taps);
        this.logitsLayer = logitsLayer;
        this.logitsEncoding = logitsEncoding;
        this.tapEncoding = tapEncoding;
        this.batchSize = batchSize;
    }

    /** Logits: the zoo's identity 'logits' layer, else log of the first (softmax) output, equal up to a per-row constant. */
    static INDArray logits(ComputationGraph graph, Map<String, INDArray> acts, boolean logitsLayer) {
        if (logitsLayer) {
            return acts.get(ModelZoo.LOGITS);
        }
        String out = graph.getConfiguration().getNetworkOutputs().get(0);
        return Transforms.log(Transforms.max(acts.get(out), 1e-30, true), false);
    }

    Iterator<Row> apply(Iterator<Row> rows) {
        Nd4jRuntime.configure();
        ComputationGraph graph = ModelCache.get(model);
        return new Iterator<>() {
            private Iterator<Row> batch = java.util.Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!batch.hasNext() && rows.hasNext()) {
                    batch = runBatch(graph, rows).iterator();
                }
                return batch.hasNext();
            }

            @Override
            public Row next() {
                hasNext();
                return batch.next();
            }
        };
    }

    private List<Row> runBatch(ComputationGraph graph, Iterator<Row> rows) {
        int pixels = shape.pixelCount();
        float[] features = new float[batchSize * pixels];
        long[] ids = new long[batchSize];
        int n = 0;
        while (n < batchSize && rows.hasNext()) {
            Row r = rows.next();
            ids[n] = r.getLong(0);
            ExamplesTable.toChw(r.getAs(ExamplesTable.IMAGE), shape, features, n * pixels);
            n++;
        }
        INDArray input = Nd4j.create(n == batchSize ? features : java.util.Arrays.copyOf(features, n * pixels),
                new long[]{n, shape.channels(), shape.height(), shape.width()}, 'c');
        Map<String, INDArray> acts = graph.feedForward(input, false);
        List<float[]> columns = new ArrayList<>();
        columns.add(flat(logits(graph, acts, logitsLayer)));
        for (String tap : taps) {
            columns.add(flat(acts.get(tap)));
        }
        List<Row> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Object[] values = new Object[2 + columns.size()];
            values[0] = ids[i];
            values[1] = 0;
            for (int c = 0; c < columns.size(); c++) {
                float[] all = columns.get(c);
                int width = all.length / n;
                int bad = TensorEncoding.firstNonFinite(all, i * width, (i + 1) * width);
                if (bad >= 0) {
                    String what = c == 0 ? "logits" : "tap '" + taps.get(c - 1) + "'";
                    throw new BadInputException("teacher produced " + all[bad] + " in " + what + " for id " + ids[i]
                            + "; teacher outputs must be finite");
                }
                TensorEncoding enc = c == 0 ? logitsEncoding : tapEncoding;
                values[2 + c] = enc.encode(java.util.Arrays.copyOfRange(all, i * width, (i + 1) * width));
            }
            out.add(RowFactory.create(values));
        }
        return out;
    }

    private static float[] flat(INDArray a) {
        return a.castTo(DataType.FLOAT).dup('c').data().asFloat();
    }
}
