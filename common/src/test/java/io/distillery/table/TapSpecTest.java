package io.distillery.table;

import io.distillery.errors.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The precompute.taps syntax, its column names, and finding a tap in a manifest by spec. */
class TapSpecTest {

    @Test
    void parsesTheThreeFormsAndGivesThemBack() {
        TapSpec raw = TapSpec.parse("precompute.taps", "stage2");
        assertEquals(new TapSpec("stage2", TapSpec.RAW, 0), raw);
        assertEquals("stage2", raw.toString());
        assertEquals("tap_stage2", raw.column());
        assertNull(raw.transformText());

        TapSpec attention = TapSpec.parse("precompute.taps", "stage2:attention");
        assertEquals(new TapSpec("stage2", TapSpec.ATTENTION, 0), attention);
        assertEquals("stage2:attention", attention.toString());
        assertEquals("tap_stage2_attention", attention.column());
        assertEquals("attention", attention.transformText());

        TapSpec pruned = TapSpec.parse("precompute.taps", "stage1:prune-l1=16");
        assertEquals(new TapSpec("stage1", TapSpec.PRUNE_L1, 16), pruned);
        assertEquals("stage1:prune-l1=16", pruned.toString());
        assertEquals("tap_stage1_prune_l1_16", pruned.column());
        assertEquals("prune-l1=16", pruned.transformText());

        // Layer names keep their own characters; the column name is Parquet- and SQL-friendly.
        assertEquals("tap_s1b1_a_relu_attention", TapSpec.parse("k", "s1b1_a_relu:attention").column());
        assertEquals("tap_block_1_prune_l1_3", TapSpec.parse("k", "block.1:prune-l1=3").column());
    }

    @Test
    void onnxTensorNamesWithColonsStayWhole() {
        assertEquals(TapSpec.raw("onnx::Relu_12"), TapSpec.parse("k", "onnx::Relu_12"));
        assertEquals(TapSpec.raw("conv1/Relu:0"), TapSpec.parse("k", "conv1/Relu:0"));
        assertEquals(new TapSpec("onnx::Relu_12", TapSpec.ATTENTION, 0), TapSpec.parse("k", "onnx::Relu_12:attention"));
        assertEquals(new TapSpec("conv1/Relu:0", TapSpec.PRUNE_L1, 4), TapSpec.parse("k", "conv1/Relu:0:prune-l1=4"));
        assertEquals("tap__layer1_Relu_output_0_attention", TapSpec.parse("k", "/layer1/Relu_output_0:attention").column());
        assertEquals("onnx::Relu_12:attention", TapSpec.parse("k", "onnx::Relu_12:attention").toString());
    }

    @Test
    void badSpecsAreOneLineErrorsNamingTheKeyAndTheForms() {
        for (String bad : List.of("stage2:attn", "stage1:prune-l1", "stage1:prune-l1=0", "stage1:prune-l1=x", "stage1:prune-l1=-3",
                "stage2:attention=3", ":attention", "", "stage2:")) {
            BadInputException e = assertThrows(BadInputException.class, () -> TapSpec.parse("precompute.taps", bad), bad);
            assertTrue(e.getMessage().startsWith("config key 'precompute.taps': '" + bad + "' is not a tap spec"), e.getMessage());
            assertTrue(e.getMessage().contains(TapSpec.FORMS), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    @Test
    void twoSpecsForOneColumnAreRefused() {
        assertEquals(3, TapSpec.parseAll("precompute.taps", List.of("stage2", "stage2:attention", "stage2:prune-l1=4")).size());
        BadInputException e = assertThrows(BadInputException.class,
                () -> TapSpec.parseAll("precompute.taps", List.of("stage3", "stage1:prune-l1=4", "stage3")));
        assertTrue(e.getMessage().contains("'stage3' and 'stage3' would both be stored in column 'tap_stage3'"), e.getMessage());
    }

    @Test
    void schemaHasOneBinaryColumnPerSpec() {
        assertEquals(List.of("id", "view", "logits", "tap_stage3", "tap_stage2_attention", "tap_stage1_prune_l1_16"),
                List.of(TeacherOutputsTable.schema(List.of("stage3", "stage2:attention", "stage1:prune-l1=16")).fieldNames()));
    }

    private static Manifest manifest(List<ColumnSpec> taps) {
        List<ColumnSpec> columns = new java.util.ArrayList<>();
        columns.add(ColumnSpec.plain("id", "int64", "id"));
        columns.add(new ColumnSpec("logits", "binary", "float32-le", List.of(10), "K", null, "logits"));
        columns.addAll(taps);
        return new Manifest(TeacherOutputsTable.KIND, 1, 5, "x", columns, Map.of(), null);
    }

    @Test
    void tapsAreFoundBySpecAndAMissingOneListsTheStoredSpecs() {
        ColumnSpec raw = new ColumnSpec("tap_stage3", "binary", "float16-le", List.of(128, 7, 7), "CHW", "stage3", "activation");
        ColumnSpec attention = new ColumnSpec("tap_stage2_attention", "binary", "float16-le", List.of(14, 14), "HW", "stage2", "attention",
                "attention", null);
        ColumnSpec pruned = new ColumnSpec("tap_stage1_prune_l1_2", "binary", "float16-le", List.of(2, 28, 28), "CHW", "stage1", "pruned",
                "prune-l1=2", List.of(3, 17));
        Manifest m = manifest(List.of(raw, attention, pruned));
        assertEquals(raw, TeacherOutputsTable.tap(m, "stage3"));
        assertEquals(attention, TeacherOutputsTable.tap(m, "stage2:attention"));
        assertEquals(pruned, TeacherOutputsTable.tap(m, "stage1:prune-l1=2"));
        assertEquals(196, TeacherOutputsTable.tap(m, "stage2:attention").elementCount());
        assertEquals(List.of("stage3", "stage2:attention", "stage1:prune-l1=2"), TeacherOutputsTable.storedTaps(m));

        BadInputException e = assertThrows(BadInputException.class, () -> TeacherOutputsTable.tap(m, "stage3:attention"));
        assertEquals("teacher outputs have no tap 'stage3:attention'; stored taps: [stage3, stage2:attention, stage1:prune-l1=2]"
                + " (add it to precompute.taps and run precompute again)", e.getMessage());
        // The raw tap does not stand in for a transformed one, nor the other way round.
        assertThrows(BadInputException.class, () -> TeacherOutputsTable.tap(m, "stage2"));
        assertThrows(BadInputException.class, () -> TeacherOutputsTable.tap(m, "stage1:prune-l1=3"));
    }

    @Test
    void manifestsWithoutTransformsReadAsBeforeAndTransformsRoundTrip() {
        // A column as written before transforms existed: no 'transform', no 'channels'.
        String old = """
                {"kind":"teacher-outputs","format_version":1,"rows":5,"content_hash":"x","columns":[
                 {"name":"tap_stage3","type":"binary","encoding":"float16-le","shape":[128,7,7],"layout":"CHW","tap":"stage3","description":"a"}],
                 "properties":{}}""";
        Manifest m = Json.read(old, Manifest.class, "old");
        ColumnSpec c = TeacherOutputsTable.tap(m, "stage3");
        assertEquals(new ColumnSpec("tap_stage3", "binary", "float16-le", List.of(128, 7, 7), "CHW", "stage3", "a"), c);
        assertNull(c.transform());
        assertEquals(TapSpec.raw("stage3"), c.tapSpec());

        ColumnSpec pruned = new ColumnSpec("tap_stage1_prune_l1_2", "binary", "float16-le", List.of(2, 28, 28), "CHW", "stage1", "pruned",
                "prune-l1=2", List.of(3, 17));
        Manifest written = manifest(List.of(pruned));
        String json = Json.pretty(written);
        assertTrue(json.contains("\"transform\" : \"prune-l1=2\""), json);
        assertTrue(!json.contains("tap_spec") && !json.contains("element_count"), json);
        Manifest back = Json.read(json, Manifest.class, "new");
        assertEquals(written.columns(), back.columns());
        // Columns without a transform write exactly the fields they wrote before.
        var plain = Json.tree(Json.line(new ColumnSpec("logits", "binary", "float32-le", List.of(10), "K", null, "logits")));
        java.util.Set<String> fields = new java.util.TreeSet<>();
        plain.fieldNames().forEachRemaining(fields::add);
        assertEquals(java.util.Set.of("name", "type", "encoding", "shape", "layout", "description"), fields);
    }
}
