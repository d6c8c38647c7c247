package io.distillery.config;

import com.typesafe.config.Config;
import io.distillery.errors.BadInputException;

import java.io.Serializable;
import java.util.List;

/**
 * A model-zoo entry: architecture name plus per-stage widths and block counts, and the head. For
 * {@code resnet} a block is a residual block of two 3x3 convolutions; for {@code cnn} it is one 3x3
 * convolution. The head reduces the last feature map before the logits: {@code avg-pool} (global
 * average, few parameters) or {@code flatten} (2x2 max pooling, then every position feeds the
 * logits: more parameters, keeps where features are).
 */
public record ModelSpec(String architecture, List<Integer> widths, List<Integer> blocks, String head) implements Serializable {
    public static final List<String> ARCHITECTURES = List.of("resnet", "cnn");
    public static final String AVG_POOL = "avg-pool";
    public static final String FLATTEN = "flatten";

    public ModelSpec(String architecture, List<Integer> widths, List<Integer> blocks) {
        this(architecture, widths, blocks, AVG_POOL);
    }

    static ModelSpec from(String where, Config c) {
        ModelSpec spec = new ModelSpec(c.getString("architecture"), c.getIntList("widths"), c.getIntList("blocks"), c.getString("head"));
        Check.oneOf(where + ".architecture", spec.architecture, ARCHITECTURES);
        Check.oneOf(where + ".head", spec.head, List.of(AVG_POOL, FLATTEN));
        if (spec.widths.isEmpty() || spec.widths.size() != spec.blocks.size()) {
            throw new BadInputException("config keys '" + where + ".widths' and '" + where + ".blocks' must be non-empty lists of the same length, got "
                    + spec.widths + " and " + spec.blocks);
        }
        for (int i = 0; i < spec.widths.size(); i++) {
            Check.atLeast(where + ".widths[" + i + "]", spec.widths.get(i), 1);
            Check.atLeast(where + ".blocks[" + i + "]", spec.blocks.get(i), 1);
        }
        return spec;
    }
}
