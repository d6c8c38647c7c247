package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.data.ImageShape;
import io.distillery.loss.DoublePrecision;
import io.distillery.loss.KnowledgeDistillationLoss;
import io.distillery.method.LabelSource;
import io.distillery.tensor.TopKEncoding;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * In double precision: the KD loss on what BatchAssembler makes of top-k rows (dense labels and a
 * label mask) is exactly the KD loss computed by hand over the k stored classes only, both softmaxes
 * renormalised there, and its gradient is zero at the other classes.
 */
@ExtendWith(DoublePrecision.class)
class TopKKdLossTest {
    private static final int N = 6, CLASSES = 10, K = 3;
    private static final double T = 4, WEIGHT = 0.7;
    private static final TopKEncoding TOP_K = new TopKEncoding(K);
    private static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.LongType).add("label", DataTypes.IntegerType).add("image", DataTypes.BinaryType)
            .add("logits", DataTypes.BinaryType);

    @Test
    void maskedKdEqualsKdByHandOverTheStoredClasses() {
        Random random = new Random(15);
        List<Row> rows = new ArrayList<>();
        List<byte[]> stored = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            float[] teacher = new float[CLASSES];
            for (int c = 0; c < CLASSES; c++) {
                teacher[c] = (float) (random.nextGaussian() * 3);
            }
            stored.add(TOP_K.encode(teacher));
            rows.add(new GenericRowWithSchema(new Object[]{(long) i, 0, new byte[]{0}, stored.get(i)}, SCHEMA));
        }
        MultiDataSet mds = new BatchAssembler(new ImageShape(1, 1, 1), List.of(new LabelSource.TeacherColumn("logits", TOP_K, CLASSES)), N)
                .batches(rows.iterator()).next();
        INDArray labels = mds.getLabels(0).castTo(DataType.DOUBLE);
        INDArray mask = mds.getLabelsMaskArray(0).castTo(DataType.DOUBLE);
        double[][] s = new double[N][CLASSES];
        for (double[] row : s) {
            for (int c = 0; c < CLASSES; c++) {
                row[c] = random.nextGaussian() * 2;
            }
        }
        INDArray student = Nd4j.createFromArray(s);
        KnowledgeDistillationLoss loss = new KnowledgeDistillationLoss(T, WEIGHT);
        var identity = Activation.IDENTITY.getActivationFunction();
        INDArray scores = loss.computeScoreArray(labels, student, identity, mask);
        INDArray gradient = loss.computeGradient(labels, student, identity, mask);

        double total = 0;
        for (int i = 0; i < N; i++) {
            float[] values = TOP_K.values(stored.get(i));
            int[] classes = TOP_K.indices(stored.get(i));
            double[] pt = softmax(values, T);
            double[] zs = new double[K];
            for (int j = 0; j < K; j++) {
                zs[j] = s[i][classes[j]];
            }
            double[] ps = softmax(zs, T);
            double kl = 0;
            for (int j = 0; j < K; j++) {
                kl += pt[j] * (Math.log(pt[j]) - Math.log(ps[j]));
            }
            double expected = WEIGHT * T * T * kl;
            assertEquals(expected, scores.getDouble(i, 0), 1e-12, "example " + i);
            total += expected;

            double[] expectedGradient = new double[CLASSES];
            for (int j = 0; j < K; j++) {
                expectedGradient[classes[j]] = WEIGHT * T * (ps[j] - pt[j]);
            }
            for (int c = 0; c < CLASSES; c++) {
                assertEquals(expectedGradient[c], gradient.getDouble(i, c), 1e-12, "gradient of example " + i + ", class " + c);
            }
        }
        assertEquals(total / N, loss.computeScore(labels, student, identity, mask, true), 1e-12);
        // Without the mask the zeros at the other classes would be read as teacher logits: a different loss.
        double unmasked = loss.computeScore(labels, student, identity, null, true);
        assertTrue(Math.abs(unmasked - total / N) > 1e-3, "the mask made no difference: " + unmasked);
    }

    private static double[] softmax(float[] logits, double t) {
        double[] z = new double[logits.length];
        for (int j = 0; j < z.length; j++) {
            z[j] = logits[j];
        }
        return softmax(z, t);
    }

    private static double[] softmax(double[] logits, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : logits) {
            max = Math.max(max, v / t);
        }
        double sum = 0;
        double[] p = new double[logits.length];
        for (int j = 0; j < p.length; j++) {
            p[j] = Math.exp(logits[j] / t - max);
            sum += p[j];
        }
        for (int j = 0; j < p.length; j++) {
            p[j] /= sum;
        }
        return p;
    }
}
