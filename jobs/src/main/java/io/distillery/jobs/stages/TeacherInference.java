package io.distillery.jobs.stages;

import io.distillery.data.Augmentation;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.table.TapSpec;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.AttentionMaps;
import io.distillery.tensor.ColumnEncoding;
import io.distillery.tensor.TensorEncoding;
import io.distillery.train.ModelCache;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The executor side of precompute: batched inference of the broadcast teacher over a partition of
 * (id, image) rows, emitting (id, view 0, encoded logits, encoded taps...) rows. The teacher runs in
 * inference mode (batch norm on its running statistics). Each tap is its layer's activation after the
 * spec's transform ({@link #transform}).
 */
final class TeacherInference implements Serializable {
    private final Broadcast<byte[]> model;
    private final ImageShape shape;
    private final List<Tap> taps;
    private final boolean logitsLayer;
    /** Dense ({@link TensorEncoding}) or top-k ({@link io.distillery.tensor.TopKEncoding}). */
    private final ColumnEncoding logitsEncoding;
    private final TensorEncoding tapEncoding;
    private final int batchSize;

    /**
     * One stored tap: its spec and, for {@code prune-l1}, the kept channels of the source layer
     * (chosen once on the driver by {@link io.distillery.model.ChannelPruning}); null otherwise.
     */
    record Tap(TapSpec spec, int[] keptChannels) implements Serializable {
        Tap {
            if (spec.transform().equals(TapSpec.PRUNE_L1) != (keptChannels != null)) {
                throw new IllegalArgumentException("tap " + spec + ": kept channels are needed exactly for prune-l1");
            }
        }

        static Tap raw(String layer) {
            return new Tap(TapSpec.raw(layer), null);
        }

        static Tap attention(String layer) {
            return new Tap(new TapSpec(layer, TapSpec.ATTENTION, 0), null);
        }

        static Tap pruned(String layer, int[] keptChannels) {
            return new Tap(new TapSpec(layer, TapSpec.PRUNE_L1, keptChannels.length), keptChannels.clone());
        }
    }

    TeacherInference(Broadcast<byte[]> model, ImageShape shape, List<Tap> taps, boolean logitsLayer, ColumnEncoding logitsEncoding,
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

    /**
     * A batch of a tap's stored values from its layer's activation [B, ...]: raw, the activation
     * itself; attention, {@link AttentionMaps#normalized} reshaped to [B, H, W]; prune-l1, the
     * activation [B, C, H, W] restricted to the kept channels, [B, k, H, W], in ascending channel order.
     */
    static INDArray transform(Tap tap, INDArray activation) {
        return switch (tap.spec().transform()) {
            case TapSpec.RAW -> activation;
            case TapSpec.ATTENTION -> {
                if (activation.rank() != 4) {
                    throw new BadInputException("precompute.taps: '" + tap.spec() + "' needs a feature map [C, H, W] but layer '"
                            + tap.spec().layer() + "' gives " + Arrays.toString(Arrays.copyOfRange(activation.shape(), 1, activation.rank())));
                }
                yield AttentionMaps.normalized(activation).reshape('c', activation.size(0), activation.size(2), activation.size(3));
            }
            case TapSpec.PRUNE_L1 -> {
                if (activation.rank() != 4) {
                    throw new BadInputException("precompute.taps: '" + tap.spec() + "' needs a feature map [C, H, W] but layer '"
                            + tap.spec().layer() + "' gives " + Arrays.toString(Arrays.copyOfRange(activation.shape(), 1, activation.rank())));
                }
                long[] kept = Arrays.stream(tap.keptChannels()).asLongStream().toArray();
                yield activation.get(NDArrayIndex.all(), NDArrayIndex.indices(kept), NDArrayIndex.all(), NDArrayIndex.all());
            }
            default -> throw new IllegalArgumentException("unknown tap transform " + tap.spec().transform());
        };
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
        Batch batch = Batch.read(rows, shape, batchSize);
        Map<String, INDArray> acts = graph.feedForward(batch.input(), false);
        List<float[]> columns = new ArrayList<>();
        columns.add(flat(logits(graph, acts, logitsLayer)));
        for (Tap tap : taps) {
            columns.add(flat(transform(tap, acts.get(tap.spec().layer()))));
        }
        return rows(batch.rows(), columns, taps, logitsEncoding, tapEncoding);
    }

    /**
     * Up to {@code batchSize} examples read from (id, image, ...) rows (with view and augmentation
     * columns for stored views): the NCHW input in [0, 1], each image augmented as its row says, and the rows themselves.
     */
    record Batch(int n, INDArray input, List<Row> rows) {
        static Batch read(Iterator<Row> rows, ImageShape shape, int batchSize) {
            int pixels = shape.pixelCount();
            float[] features = new float[batchSize * pixels];
            List<Row> read = new ArrayList<>(batchSize);
            int n = 0;
            while (n < batchSize && rows.hasNext()) {
                Row r = rows.next();
                ExamplesTable.toChw(Augmentation.image(r, ExamplesTable.IMAGE, shape), shape, features, n * pixels);
                read.add(r);
                n++;
            }
            INDArray input = Nd4j.create(n == batchSize ? features : Arrays.copyOf(features, n * pixels),
                    new long[]{n, shape.channels(), shape.height(), shape.width()}, 'c');
            return new Batch(n, input, read);
        }
    }

    /**
     * Output rows (id, view, [augmentation], encoded logits, encoded taps...) of a batch of input rows,
     * from each column's values for the whole batch (logits first, then taps in order); any teacher engine's.
     */
    static List<Row> rows(List<Row> inputs, List<float[]> columns, List<Tap> taps, ColumnEncoding logitsEncoding,
                          ColumnEncoding tapEncoding) {
        List<String> what = new ArrayList<>(List.of("logits"));
        List<ColumnEncoding> encodings = new ArrayList<>(List.of(logitsEncoding));
        for (Tap tap : taps) {
            what.add("tap '" + tap.spec() + "'");
            encodings.add(tapEncoding);
        }
        return rows(inputs, columns, what, encodings);
    }

    /**
     * Output rows of a batch of input rows: id, view (0 for a plain image; a stored view's number and
     * its {@link Augmentation} parameters when the input carries them), then one encoded value per
     * column, from each column's values for the whole batch; {@code what} names each column in errors.
     */
    static List<Row> rows(List<Row> inputs, List<float[]> columns, List<String> what, List<ColumnEncoding> encodings) {
        int n = inputs.size();
        boolean views = n > 0 && Augmentation.in(inputs.get(0).schema());
        int key = views ? 5 : 2;
        List<Row> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Row in = inputs.get(i);
            Object[] values = new Object[key + columns.size()];
            values[0] = in.getLong(0);
            values[1] = views ? in.getAs(TeacherOutputsTable.VIEW) : 0;
            if (views) {
                values[2] = in.getAs(Augmentation.DX);
                values[3] = in.getAs(Augmentation.DY);
                values[4] = in.getAs(Augmentation.FLIP);
            }
            for (int c = 0; c < columns.size(); c++) {
                float[] all = columns.get(c);
                int width = all.length / n;
                int bad = TensorEncoding.firstNonFinite(all, i * width, (i + 1) * width);
                if (bad >= 0) {
                    throw new BadInputException("teacher produced " + all[bad] + " in " + what.get(c) + " for id " + values[0]
                            + "; teacher outputs must be finite");
                }
                values[key + c] = encodings.get(c).encode(Arrays.copyOfRange(all, i * width, (i + 1) * width));
            }
            out.add(RowFactory.create(values));
        }
        return out;
    }

    static float[] flat(INDArray a) {
        return a.castTo(DataType.FLOAT).dup('c').data().asFloat();
    }
}
