package io.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Hash-based split assignment: stable, close to the configured fractions, seed-dependent. */
class SplitsTest {
    private static final int N = 100_000;

    private static Map<String, Integer> counts(long seed, double validation, double test) {
        Map<String, Integer> counts = new HashMap<>(Map.of("train", 0, "validation", 0, "test", 0));
        for (long id = 0; id < N; id++) {
            counts.merge(Splits.assign(id, seed, validation, test), 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void deterministic() {
        for (long id : new long[]{0, 1, 42, 59_999, Long.MAX_VALUE, -5}) {
            String first = Splits.assign(id, 42, 0.1, 0.2);
            for (int k = 0; k < 3; k++) {
                assertEquals(first, Splits.assign(id, 42, 0.1, 0.2), "id " + id);
            }
        }
    }

    @Test
    void fractionsHoldOver100kIds() {
        // Binomial standard deviation at n = 100k is under 0.0013 for these fractions; 0.01 is over 7 of them.
        Map<String, Integer> c = counts(42, 0.1, 0.2);
        assertEquals(N, c.values().stream().mapToInt(Integer::intValue).sum());
        assertEquals(0.1, c.get("validation") / (double) N, 0.01, c.toString());
        assertEquals(0.2, c.get("test") / (double) N, 0.01, c.toString());
        assertEquals(0.7, c.get("train") / (double) N, 0.01, c.toString());
    }

    @Test
    void seedChangesTheAssignment() {
        int changed = 0;
        for (long id = 0; id < N; id++) {
            if (!Splits.assign(id, 1, 0.1, 0.2).equals(Splits.assign(id, 2, 0.1, 0.2))) {
                changed++;
            }
        }
        // Independent draws differ with probability 1 - (0.7^2 + 0.2^2 + 0.1^2) = 0.46.
        assertEquals(0.46, changed / (double) N, 0.02);
    }

    @Test
    void zeroTestFractionNeverYieldsTest() {
        Map<String, Integer> c = counts(7, 0.1, 0.0);
        assertEquals(0, c.get("test"));
        assertEquals(0.1, c.get("validation") / (double) N, 0.01);
        assertTrue(c.get("train") > 0);
    }
}
