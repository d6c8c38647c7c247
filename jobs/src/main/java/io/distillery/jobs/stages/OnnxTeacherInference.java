package io.distillery.jobs.stages;

import io.distillery.data.Augmentation;
import io.distillery.data.ImageShape;
import io.distillery.onnx.OnnxModels;
import io.distillery.table.ExamplesTable;
import io.distillery.onnx.OnnxTeacher;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.tensor.ColumnEncoding;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * The executor side of precompute for an imported ONNX teacher: batched ONNX Runtime inference of
 * the broadcast model (its bytes already carry every tapped value as a graph output) over a
 * partition of (id, image) rows, emitting (id, view 0, encoded logits, encoded taps...) rows like
 * {@link TeacherInference}. Logits are stored exactly as ORT returns them; taps are the named
 * values after the spec's transform ({@link TeacherInference#transform}). One ORT session per
 * executor thread ({@link OnnxTeacher#session}) with intra-op threads = the task's cores
 * (spark.task.cpus) and one inter-op thread.
 */
final class OnnxTeacherInference implements Serializable {
    private final Broadcast<byte[]> model;
    private final OnnxTeacher teacher;
    private final ImageShape shape;
    private final int pixels;
    private final List<TeacherInference.Tap> taps;
    private final String logitsOutput;
    private final ColumnEncoding logitsEncoding;
    private final TensorEncoding tapEncoding;
    private final int batchSize;
    private final int defaultCores;
    private final boolean cuda;

    OnnxTeacherInference(Broadcast<byte[]> model, OnnxTeacher teacher, ImageShape shape, List<TeacherInference.Tap> taps, String logitsOutput,
                         ColumnEncoding logitsEncoding, TensorEncoding tapEncoding, int batchSize, int defaultCores, boolean cuda) {
        this.model = model;
        this.teacher = teacher;
        this.shape = shape;
        this.pixels = shape.pixelCount();
        this.taps = List.copyOf(taps);
        this.logitsOutput = logitsOutput;
        this.logitsEncoding = logitsEncoding;
        this.tapEncoding = tapEncoding;
        this.batchSize = batchSize;
        this.defaultCores = defaultCores;
        this.cuda = cuda;
    }

    /** The graph outputs one batch fetches: the logits, then each tapped value once. */
    static List<String> fetched(String logitsOutput, List<TeacherInference.Tap> taps) {
        LinkedHashSet<String> names = new LinkedHashSet<>();
        names.add(logitsOutput);
        taps.forEach(t -> names.add(t.spec().layer()));
        return List.copyOf(names);
    }

    /** The stored columns (logits first, then taps in order) of a batch of outputs, each flattened row-major. */
    static List<float[]> columns(Map<String, OnnxModels.Runner.Tensor> outs, String logitsOutput, List<TeacherInference.Tap> taps) {
        List<float[]> columns = new ArrayList<>();
        columns.add(outs.get(logitsOutput).data());
        for (TeacherInference.Tap tap : taps) {
            OnnxModels.Runner.Tensor t = outs.get(tap.spec().layer());
            if (tap.spec().isRaw()) {
                columns.add(t.data());
            } else {
                INDArray activation = Nd4j.create(t.data(), t.shape(), 'c');
                columns.add(TeacherInference.transform(tap, activation).castTo(DataType.FLOAT).dup('c').data().asFloat());
            }
        }
        return columns;
    }

    /**
     * Test accuracy of an ONNX teacher over (id, label, image) rows, on the executors: argmax of
     * the logits output against the label. Returns {correct, total}.
     */
    static long[] accuracy(org.apache.spark.api.java.JavaSparkContext sc, byte[] modelBytes, OnnxTeacher teacher, int pixels, String logitsOutput,
                           org.apache.spark.sql.Dataset<Row> rows, int batchSize) {
        Broadcast<byte[]> b = sc.broadcast(modelBytes);
        int defaultCores = sc.getConf().getInt("spark.task.cpus", 1);
        try {
            return rows.select(io.distillery.table.ExamplesTable.LABEL, io.distillery.table.ExamplesTable.IMAGE).javaRDD()
                    .mapPartitions((Iterator<Row> it) -> {
                        OnnxModels.Runner runner = OnnxTeacher.session(b, OnnxTeacher.taskCores(defaultCores));
                        long correct = 0;
                        long total = 0;
                        float[] features = new float[batchSize * pixels];
                        int[] labels = new int[batchSize];
                        while (it.hasNext()) {
                            int n = 0;
                            while (n < batchSize && it.hasNext()) {
                                Row r = it.next();
                                labels[n] = ((Number) r.get(0)).intValue();
                                teacher.fill(r.getAs(1), features, n * pixels);
                                n++;
                            }
                            OnnxModels.Runner.Tensor logits = teacher.run(runner, features, n, List.of(logitsOutput)).get(logitsOutput);
                            int k = logits.data().length / n;
                            for (int i = 0; i < n; i++) {
                                int best = 0;
                                for (int c = 1; c < k; c++) {
                                    if (logits.data()[i * k + c] > logits.data()[i * k + best]) {
                                        best = c;
                                    }
                                }
                                correct += best == labels[i] ? 1 : 0;
                                total++;
                            }
                        }
                        return List.of(new long[]{correct, total}).iterator();
                    })
                    .reduce((x, y) -> new long[]{x[0] + y[0], x[1] + y[1]});
        } finally {
            b.destroy();
        }
    }

    /** Images per second of ONNX Runtime on {@code images} (HWC bytes) at one batch size, after warm-up batches, in this JVM. */
    static double imagesPerSecond(OnnxModels.Runner runner, OnnxTeacher teacher, int pixels, String logitsOutput, List<byte[]> images,
                                  int batchSize, int warmupBatches) {
        int n = images.size();
        int batches = Math.max(1, n / batchSize);
        List<float[]> slices = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            int from = b * batchSize;
            int size = Math.min(n, from + batchSize) - from;
            float[] x = new float[size * pixels];
            for (int i = 0; i < size; i++) {
                teacher.fill(images.get(from + i), x, i * pixels);
            }
            slices.add(x);
            sizes.add(size);
        }
        List<String> out = List.of(logitsOutput);
        for (int w = 0; w < warmupBatches; w++) {
            teacher.run(runner, slices.get(w % batches), sizes.get(w % batches), out);
        }
        long count = 0;
        long start = System.nanoTime();
        for (int b = 0; b < batches; b++) {
            teacher.run(runner, slices.get(b), sizes.get(b), out);
            count += sizes.get(b);
        }
        return count / ((System.nanoTime() - start) / 1e9);
    }

    Iterator<Row> apply(Iterator<Row> rows) {
        Nd4jRuntime.configure();
        OnnxModels.Runner runner = OnnxTeacher.session(model, OnnxTeacher.taskCores(defaultCores), cuda ? OnnxTeacher.taskGpu() : -1);
        List<String> fetched = fetched(logitsOutput, taps);
        return new Iterator<>() {
            private Iterator<Row> batch = Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!batch.hasNext() && rows.hasNext()) {
                    batch = runBatch(runner, fetched, rows).iterator();
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

    private List<Row> runBatch(OnnxModels.Runner runner, List<String> fetched, Iterator<Row> rows) {
        float[] features = new float[batchSize * pixels];
        List<Row> inputs = new ArrayList<>(batchSize);
        while (inputs.size() < batchSize && rows.hasNext()) {
            Row r = rows.next();
            teacher.fill(Augmentation.image(r, ExamplesTable.IMAGE, shape), features, inputs.size() * pixels);
            inputs.add(r);
        }
        List<float[]> columns = columns(teacher.run(runner, features, inputs.size(), fetched), logitsOutput, taps);
        return TeacherInference.rows(inputs, columns, taps, logitsEncoding, tapEncoding);
    }
}
