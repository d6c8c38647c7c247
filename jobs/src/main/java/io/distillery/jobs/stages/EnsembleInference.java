package io.distillery.jobs.stages;

import io.distillery.data.ImageShape;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.tensor.ColumnEncoding;
import io.distillery.tensor.Probabilities;
import io.distillery.tensor.TensorEncoding;
import io.distillery.train.ModelCache;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The executor side of an ensemble precompute: each batch of (id, image, label) rows is decoded once
 * and run through every member teacher (inference mode), giving one row per example with the
 * ensemble's logits (log of the mean of the members' softmax probabilities) and then each member's
 * logits and taps. Per member, accumulators count correct top-1 predictions and the nanoseconds its
 * forward pass and output transforms took, so the manifest can report each teacher's accuracy and
 * its share of the job.
 */
final class EnsembleInference implements Serializable {

    /** One member teacher: its broadcast model, stored taps, and accumulators for its accuracy and time. */
    record Member(String name, Broadcast<byte[]> model, List<TeacherInference.Tap> taps, boolean logitsLayer,
                  LongAccumulator correct, LongAccumulator nanos) implements Serializable {
    }

    private final List<Member> members;
    private final ImageShape shape;
    private final int classes;
    private final ColumnEncoding logitsEncoding;
    private final TensorEncoding tapEncoding;
    private final int batchSize;
    private final LongAccumulator examples;

    EnsembleInference(List<Member> members, ImageShape shape, int classes, ColumnEncoding logitsEncoding, TensorEncoding tapEncoding,
                      int batchSize, LongAccumulator examples) {
        this.members = List.copyOf(members);
        this.shape = shape;
        this.classes = classes;
        this.logitsEncoding = logitsEncoding;
        this.tapEncoding = tapEncoding;
        this.batchSize = batchSize;
        this.examples = examples;
    }

    /** Column order of the rows: ensemble logits, then per member its logits and taps. */
    List<String> describeColumns() {
        List<String> what = new ArrayList<>(List.of("ensemble logits"));
        for (Member m : members) {
            what.add("logits of teacher " + m.name());
            m.taps().forEach(t -> what.add("tap '" + t.spec() + "' of teacher " + m.name()));
        }
        return what;
    }

    Iterator<Row> apply(Iterator<Row> rows) {
        Nd4jRuntime.configure();
        List<ComputationGraph> graphs = members.stream().map(m -> ModelCache.get(m.model())).toList();
        List<String> what = describeColumns();
        List<ColumnEncoding> encodings = new ArrayList<>(List.of(logitsEncoding));
        for (Member m : members) {
            encodings.add(logitsEncoding);
            m.taps().forEach(t -> encodings.add(tapEncoding));
        }
        return new Iterator<>() {
            private Iterator<Row> batch = Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!batch.hasNext() && rows.hasNext()) {
                    batch = runBatch(graphs, rows, what, encodings).iterator();
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

    private List<Row> runBatch(List<ComputationGraph> graphs, Iterator<Row> rows, List<String> what, List<ColumnEncoding> encodings) {
        TeacherInference.Batch batch = TeacherInference.Batch.read(rows, shape, batchSize);
        List<float[]> memberColumns = new ArrayList<>();
        List<float[]> memberLogits = new ArrayList<>();
        for (int k = 0; k < members.size(); k++) {
            Member m = members.get(k);
            long start = System.nanoTime();
            ComputationGraph graph = graphs.get(k);
            Map<String, INDArray> acts = graph.feedForward(batch.input(), false);
            float[] logits = TeacherInference.flat(TeacherInference.logits(graph, acts, m.logitsLayer()));
            memberLogits.add(logits);
            memberColumns.add(logits);
            for (TeacherInference.Tap tap : m.taps()) {
                memberColumns.add(TeacherInference.flat(TeacherInference.transform(tap, acts.get(tap.spec().layer()))));
            }
            m.nanos().add(System.nanoTime() - start);
            m.correct().add(correct(logits, batch.rows()));
        }
        examples.add(batch.n());
        List<float[]> columns = new ArrayList<>();
        columns.add(Probabilities.logMeanSoftmax(memberLogits, classes));
        columns.addAll(memberColumns);
        return TeacherInference.rows(batch.rows(), columns, what, encodings);
    }

    /** Rows whose top-1 logit is their label. */
    private long correct(float[] logits, List<Row> rows) {
        long correct = 0;
        for (int i = 0; i < rows.size(); i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (logits[i * classes + c] > logits[i * classes + best]) {
                    best = c;
                }
            }
            if (best == rows.get(i).<Integer>getAs(ExamplesTable.LABEL)) {
                correct++;
            }
        }
        return correct;
    }
}
