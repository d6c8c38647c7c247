package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.TensorEncoding;
import io.distillery.train.BatchAssembler;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * An ensemble table as methods see it: one view per member with its own prefixed columns, the
 * table's own view with the stored ensemble logits, and a subset whose KD targets the batch
 * assembler rebuilds per row as the log of the mean of the members' softmax.
 */
class EnsembleOutputsTest {
    private static final List<String> MEMBERS = List.of("ta", "tb-2", "tc");

    static Manifest manifest() {
        List<ColumnSpec> columns = new ArrayList<>();
        columns.add(new ColumnSpec("logits", "binary", "float32-le", List.of(3), "K", null, "ensemble"));
        List<Map<String, Object>> members = new ArrayList<>();
        for (String m : MEMBERS) {
            String prefix = TeacherOutputsTable.memberPrefix(m);
            columns.add(new ColumnSpec(prefix + "logits", "binary", "float32-le", List.of(3), "K", null, m));
            columns.add(new ColumnSpec(prefix + "tap_stage3", "binary", "float16-le", List.of(4, 2, 2), "CHW", "stage3", m));
            members.add(Map.of("name", m, "prefix", prefix));
        }
        return new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 1, "h", columns, Map.of(TeacherOutputs.MEMBERS, members), null);
    }

    @Test
    void membersAreViewsOverTheirOwnColumns() {
        TeacherOutputs table = new TeacherOutputs("trio", manifest());
        assertTrue(table.isEnsemble());
        assertEquals(MEMBERS, table.members().stream().map(TeacherOutputs::name).toList());
        TeacherOutputs b = table.member("tb-2");
        assertEquals("tb_2__logits", b.logits().column());
        assertEquals("tb_2__tap_stage3", b.tap("stage3").column());
        assertEquals("logits", table.logits().column());
        BadInputException e = assertThrows(BadInputException.class, () -> table.tapSpec("stage3"));
        assertTrue(e.getMessage().contains("distill.teachers"), e.getMessage());
        e = assertThrows(BadInputException.class, () -> table.member("td"));
        assertTrue(e.getMessage().contains("[ta, tb-2, tc]"), e.getMessage());
    }

    @Test
    void selectingAllOneOrASubset() {
        TeacherOutputs table = new TeacherOutputs("trio", manifest());
        assertSame(table, table.select(List.of()));
        assertSame(table, table.select(List.of("tc", "tb-2", "ta")));
        assertEquals("ta__logits", ((LabelSource.TeacherColumn) table.select(List.of("ta")).kdTargets()).column());
        TeacherOutputs two = table.select(List.of("ta", "tc"));
        assertEquals(List.of("ta", "tc"), two.members().stream().map(TeacherOutputs::name).toList());
        LabelSource.EnsembleLogits targets = assertInstanceOf(LabelSource.EnsembleLogits.class, two.kdTargets());
        assertEquals(List.of("ta__logits", "tc__logits"), targets.teacherColumns().stream().map(LabelSource.TeacherColumn::column).toList());
        assertThrows(BadInputException.class, () -> table.select(List.of("ta", "nobody")));
    }

    @Test
    void aSubsetsTargetsAreTheLogOfTheMeanSoftmax() {
        StructType schema = new StructType().add("id", DataTypes.LongType).add("label", DataTypes.IntegerType)
                .add("image", DataTypes.BinaryType).add("ta__logits", DataTypes.BinaryType).add("tc__logits", DataTypes.BinaryType);
        float[] a = {2f, 0f, -1f};
        float[] c = {-3f, 1f, 0.5f};
        Row row = new GenericRowWithSchema(new Object[]{7L, 1, new byte[]{0, 0, 0, 0}, TensorEncoding.FLOAT32.encode(a),
                TensorEncoding.FLOAT32.encode(c)}, schema);
        LabelSource targets = new TeacherOutputs("trio", manifest()).select(List.of("ta", "tc")).kdTargets();
        MultiDataSet batch = new BatchAssembler(new ImageShape(2, 2, 1), List.of(targets), 4).batches(List.of(row).iterator()).next();
        float[] got = batch.getLabels(0).dup('c').data().asFloat();
        double[] pa = softmax(a);
        double[] pc = softmax(c);
        for (int k = 0; k < 3; k++) {
            assertEquals(Math.log((pa[k] + pc[k]) / 2), got[k], 1e-6, "class " + k);
        }
    }

    private static double[] softmax(float[] z) {
        double sum = 0;
        double[] p = new double[z.length];
        for (int k = 0; k < z.length; k++) {
            p[k] = Math.exp(z[k]);
            sum += p[k];
        }
        for (int k = 0; k < z.length; k++) {
            p[k] /= sum;
        }
        return p;
    }
}
