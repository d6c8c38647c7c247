package io.distillery.table;

import io.distillery.errors.BadInputException;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One entry of {@code precompute.taps}: a teacher layer and an optional transform applied before
 * storage. Forms ({@link #FORMS}):
 * <ul>
 *   <li>{@code stage2}: the raw activation, shape [C, H, W]; column {@code tap_stage2}</li>
 *   <li>{@code stage2:attention}: the normalised attention map (mean over channels of the squared
 *       activation, divided per example by its L2 norm over H·W), shape [H, W]; column
 *       {@code tap_stage2_attention}</li>
 *   <li>{@code stage1:prune-l1=16}: the activation restricted to the 16 channels whose producing
 *       convolution has the largest L1 filter norms (InDistill), in ascending channel order, shape
 *       [16, H, W]; column {@code tap_stage1_prune_l1_16}</li>
 * </ul>
 * A name holding colons stays whole when what follows its last colon is a number or that colon
 * is doubled (ONNX tensor names such as {@code onnx::Relu_12} or {@code conv1/Relu:0}); a
 * transform still follows such a name after one more colon.
 * {@link #toString()} gives back the canonical config string; {@link #column()} is that string with
 * every character other than letters, digits and '_' replaced by '_', after {@code tap_}.
 *
 * @param layer     the teacher layer (vertex) whose activation is the source
 * @param transform {@link #RAW}, {@link #ATTENTION} or {@link #PRUNE_L1}
 * @param parameter the transform's parameter (k for prune-l1); 0 when it takes none
 */
public record TapSpec(String layer, String transform, int parameter) implements Serializable {
    public static final String RAW = "raw";
    public static final String ATTENTION = "attention";
    public static final String PRUNE_L1 = "prune-l1";
    public static final String FORMS = "'<layer>' (raw [C,H,W]), '<layer>:attention' ([H,W]) or '<layer>:prune-l1=<k>' ([k,H,W], k >= 1)";

    public TapSpec {
        if (layer == null || layer.isEmpty()) {
            throw new IllegalArgumentException("tap layer must not be empty");
        }
        switch (transform) {
            case RAW, ATTENTION -> {
                if (parameter != 0) {
                    throw new IllegalArgumentException("tap transform " + transform + " takes no parameter");
                }
            }
            case PRUNE_L1 -> {
                if (parameter < 1) {
                    throw new IllegalArgumentException("prune-l1 needs k >= 1, got " + parameter);
                }
            }
            default -> throw new IllegalArgumentException("unknown tap transform '" + transform + "'");
        }
    }

    public static TapSpec raw(String layer) {
        return new TapSpec(layer, RAW, 0);
    }

    /** Parses one config entry; a bad one is a one-line BadInputException naming the config {@code key} and the valid forms. */
    public static TapSpec parse(String key, String value) {
        return parseIn("config key '" + key + "': ", value);
    }

    /** Parses a spec asked for by a method or read from a manifest ({@code where} prefixes the error, e.g. "manifest column 'x': "). */
    public static TapSpec parseIn(String where, String value) {
        String v = value == null ? "" : value;
        int colon = v.lastIndexOf(':');
        String layer = colon < 0 ? v : v.substring(0, colon);
        if (layer.isEmpty()) {
            throw bad(where, v, "no layer name");
        }
        if (colon < 0) {
            return raw(layer);
        }
        String t = v.substring(colon + 1);
        if (layer.endsWith(":") || t.matches("[0-9]+")) {
            // ONNX tensor names may hold colons ("onnx::Relu_12", TensorFlow's "conv1/Relu:0"): no transform is a number or follows "::".
            return raw(v);
        }
        if (t.equals(ATTENTION)) {
            return new TapSpec(layer, ATTENTION, 0);
        }
        if (t.startsWith(PRUNE_L1 + "=")) {
            String k = t.substring(PRUNE_L1.length() + 1);
            if (!k.matches("[0-9]{1,9}") || Integer.parseInt(k) < 1) {
                throw bad(where, v, "prune-l1 needs a whole number of channels k >= 1, got '" + k + "'");
            }
            return new TapSpec(layer, PRUNE_L1, Integer.parseInt(k));
        }
        if (t.equals(PRUNE_L1)) {
            throw bad(where, v, "prune-l1 needs the number of channels to keep, e.g. '" + layer + ":prune-l1=16'");
        }
        throw bad(where, v, "unknown transform '" + t + "'");
    }

    /** Parses a whole list, refusing two entries that would write the same column. */
    public static List<TapSpec> parseAll(String key, List<String> values) {
        List<TapSpec> specs = new ArrayList<>();
        Map<String, String> columns = new LinkedHashMap<>();
        for (String value : values) {
            TapSpec spec = parse(key, value);
            String before = columns.putIfAbsent(spec.column(), value);
            if (before != null) {
                throw new BadInputException("config key '" + key + "': '" + before + "' and '" + value + "' would both be stored in column '"
                        + spec.column() + "'; list each tap once");
            }
            specs.add(spec);
        }
        return specs;
    }

    private static BadInputException bad(String where, String value, String why) {
        return new BadInputException(where + "'" + value + "' is not a tap spec (" + why + "); valid forms: " + FORMS);
    }

    public boolean isRaw() {
        return transform.equals(RAW);
    }

    /** The transform in config syntax ({@code attention}, {@code prune-l1=16}); null for a raw tap. */
    public String transformText() {
        return switch (transform) {
            case RAW -> null;
            case PRUNE_L1 -> PRUNE_L1 + "=" + parameter;
            default -> transform;
        };
    }

    /** The Parquet column: {@code tap_stage2}, {@code tap_stage2_attention}, {@code tap_stage1_prune_l1_16}. */
    public String column() {
        return TeacherOutputsTable.tapColumn(toString());
    }

    /** The canonical config string: {@code stage2}, {@code stage2:attention}, {@code stage1:prune-l1=16}. */
    @Override
    public String toString() {
        return isRaw() ? layer : layer + ":" + transformText();
    }
}
