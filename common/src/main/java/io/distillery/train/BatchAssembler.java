package io.distillery.train;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.GraphInput;
import io.distillery.method.LabelSource;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.tensor.TensorEncoding;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Turns rows of (examples ⨝ teacher outputs) into MultiDataSet minibatches on the executor: features
 * are the NCHW image in [0, 1] (then any extra graph inputs from teacher columns), labels follow the
 * heads' {@link LabelSource}s in order. A head fed from a sparse column (logits stored top-k) gets
 * dense labels, the stored values at their classes and 0 elsewhere, and a per-output label mask, 1 at
 * the stored classes and 0 elsewhere; the other heads' label masks are null, as DL4J expects (and
 * with no sparse head the MultiDataSet has no label masks at all). Nothing is
 * collected: batches are built as the partition streams by.
 */
public final class BatchAssembler implements Serializable {
    private final ImageShape shape;
    private final List<GraphInput> extraInputs;
    private final List<LabelSource> labels;
    private final int batchSize;

    public BatchAssembler(ImageShape shape, List<LabelSource> labels, int batchSize) {
        this(shape, List.of(), labels, batchSize);
    }

    /** @param extraInputs graph inputs after the image, fed from teacher columns */
    public BatchAssembler(ImageShape shape, List<GraphInput> extraInputs, List<LabelSource> labels, int batchSize) {
        for (GraphInput input : extraInputs) {
            if (input.column().masked()) {
                throw new IllegalArgumentException("graph input '" + input.name() + "' cannot be fed from column '" + input.column().column()
                        + "' stored " + input.column().encoding().manifestName() + ": graph inputs need every element");
            }
        }
        this.shape = shape;
        this.extraInputs = List.copyOf(extraInputs);
        this.labels = List.copyOf(labels);
        this.batchSize = batchSize;
    }

    public ImageShape shape() {
        return shape;
    }

    public int batchSize() {
        return batchSize;
    }

    public Iterator<MultiDataSet> batches(Iterator<Row> rows) {
        Nd4jRuntime.configure();
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public MultiDataSet next() {
                if (!rows.hasNext()) {
                    throw new NoSuchElementException();
                }
                return assemble(rows);
            }
        };
    }

    private MultiDataSet assemble(Iterator<Row> rows) {
        int pixels = shape.pixelCount();
        float[] features = new float[batchSize * pixels];
        float[][] inputData = new float[extraInputs.size()][];
        for (int i = 0; i < extraInputs.size(); i++) {
            inputData[i] = new float[batchSize * extraInputs.get(i).column().width()];
        }
        float[][] labelData = new float[labels.size()][];
        float[][] maskData = new float[labels.size()][];
        for (int h = 0; h < labels.size(); h++) {
            labelData[h] = new float[batchSize * labels.get(h).width()];
            if (masked(labels.get(h))) {
                maskData[h] = new float[batchSize * labels.get(h).width()];
            }
        }
        int n = 0;
        while (n < batchSize && rows.hasNext()) {
            Row row = rows.next();
            ExamplesTable.toChw(io.distillery.data.Augmentation.image(row, ExamplesTable.IMAGE, shape), shape, features, n * pixels);
            for (int i = 0; i < extraInputs.size(); i++) {
                fill(extraInputs.get(i).column(), row, inputData[i], null, n);
            }
            for (int h = 0; h < labels.size(); h++) {
                fill(labels.get(h), row, labelData[h], maskData[h], n);
            }
            n++;
        }
        INDArray[] f = new INDArray[1 + extraInputs.size()];
        f[0] = Nd4j.create(trim(features, n * pixels), new long[]{n, shape.channels(), shape.height(), shape.width()}, 'c');
        for (int i = 0; i < extraInputs.size(); i++) {
            GraphInput input = extraInputs.get(i);
            f[1 + i] = Nd4j.create(trim(inputData[i], n * input.column().width()), input.batchShape(n), 'c');
        }
        INDArray[] l = new INDArray[labels.size()];
        INDArray[] masks = null;
        for (int h = 0; h < labels.size(); h++) {
            int width = labels.get(h).width();
            l[h] = Nd4j.create(trim(labelData[h], n * width), new long[]{n, width}, 'c');
            if (maskData[h] != null) {
                masks = masks == null ? new INDArray[labels.size()] : masks;
                masks[h] = Nd4j.create(trim(maskData[h], n * width), new long[]{n, width}, 'c');
            }
        }
        return new org.nd4j.linalg.dataset.MultiDataSet(f, l, null, masks);
    }

    private static boolean masked(LabelSource source) {
        return source instanceof LabelSource.TeacherColumn c && c.masked();
    }

    /** One example's labels (and, for a sparse column, its mask: {@code mask} is non-null exactly then) at row n. */
    private static void fill(LabelSource source, Row row, float[] dst, float[] mask, int n) {
        int width = source.width();
        if (source instanceof LabelSource.ClassLabels) {
            int label = row.<Integer>getAs(ExamplesTable.LABEL);
            if (label < 0 || label >= width) {
                throw new BadInputException("examples: id " + row.getAs(ExamplesTable.ID) + " has label " + label
                        + " outside 0.." + (width - 1));
            }
            dst[n * width + label] = 1f;
        } else if (source instanceof LabelSource.EnsembleLogits ensemble) {
            float[] member = new float[width];
            double[] mean = new double[width];
            for (LabelSource.TeacherColumn column : ensemble.members()) {
                fill(column, row, member, null, 0);
                io.distillery.tensor.Probabilities.addSoftmax(member, 0, mean, 1.0 / ensemble.members().size());
            }
            io.distillery.tensor.Probabilities.writeLog(mean, dst, n * width);
        } else if (source instanceof LabelSource.TeacherColumn column) {
            byte[] bytes = row.getAs(column.column());
            int from = n * width;
            try {
                column.encoding().decodeRow(bytes, width, dst, mask, from);
            } catch (IllegalArgumentException e) {
                throw new BadInputException("teacher outputs: column '" + column.column() + "' of id " + row.getAs(ExamplesTable.ID)
                        + " cannot be decoded: " + e.getMessage());
            }
            int bad = TensorEncoding.firstNonFinite(dst, from, from + width);
            if (bad >= 0) {
                throw new BadInputException("teacher outputs: column '" + column.column() + "' of id " + row.getAs(ExamplesTable.ID)
                        + " holds " + dst[bad] + " at element " + (bad - from) + "; teacher outputs must be finite");
            }
        }
        // LabelSource.Zeros: nothing to fill, the array starts zeroed.
    }

    private static float[] trim(float[] data, int length) {
        return data.length == length ? data : java.util.Arrays.copyOf(data, length);
    }
}
