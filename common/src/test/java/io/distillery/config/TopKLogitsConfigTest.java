package io.distillery.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.errors.BadInputException;
import io.distillery.tensor.TensorEncoding;
import io.distillery.tensor.TopKEncoding;
import java.util.List;
import org.junit.jupiter.api.Test;

/** precompute.logits-encoding = "topk:K" and the tap encoding are checked when the config is read. */
class TopKLogitsConfigTest {
    private static PipelineConfig sets(String... sets) {
        return ConfigLoader.load(null, null, List.of(sets));
    }

    private static String rejected(String... sets) {
        String message = assertThrows(BadInputException.class, () -> sets(sets)).getMessage();
        assertFalse(message.contains("\n"), () -> "not one line: " + message);
        return message;
    }

    @Test
    void topKParsesFromSetAndFromQuotedHocon() {
        assertEquals(new TopKEncoding(3), sets("precompute.logits-encoding=topk:3").precompute().parsedLogitsEncoding());
        assertEquals(new TopKEncoding(5), sets("precompute.logits-encoding=\"topk:5\"").precompute().parsedLogitsEncoding());
        assertEquals(TensorEncoding.FLOAT32, sets().precompute().parsedLogitsEncoding(), "default");
        assertEquals(TensorEncoding.FLOAT16, sets().precompute().parsedTapEncoding(), "default");
    }

    @Test
    void badKIsRejectedNamingTheKey() {
        for (String bad : new String[] {"topk:0", "topk:-1", "topk:three", "topk"}) {
            String m = rejected("precompute.logits-encoding=" + bad);
            assertTrue(m.startsWith("config key 'precompute.logits-encoding': ") && m.contains("K >= 1"), m);
        }
        String m = rejected("precompute.logits-encoding=bf16");
        assertTrue(m.contains("'precompute.logits-encoding'") && m.contains("topk:K"), m);
    }

    @Test
    void tapsCannotBeTopK() {
        String m = rejected("precompute.tap-encoding=topk:3");
        assertTrue(m.startsWith("config key 'precompute.tap-encoding': ") && m.contains("top-k is for logits-encoding only"), m);
        m = rejected("precompute.tap-encoding=float8");
        assertTrue(m.contains("'precompute.tap-encoding'") && m.contains("float32, float16, int8"), m);
    }
}
