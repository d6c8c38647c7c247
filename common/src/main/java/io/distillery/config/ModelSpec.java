package io.distillery.config;

import com.typesafe.config.Config;
import io.distillery.errors.BadInputException;

import java.io.Serializable;
import java.util.List;

/**
 * A model-zoo entry: architecture name plus per-stage widths and block counts. For {@code resnet} a
 * block is a residual block of two 3x3 convolutions; for {@code cnn} it is one 3x3 convolution.
 */
public record ModelSpec(String architecture, List<Integer> widths, List<Integer> blocks) implements Serializable {
    public static final List<String> ARCHITECTURES = List.of("resnet", "cnn");

    static ModelSpec from(String where, Config c) {
        ModelSpec spec = new ModelSpec(c.getString("architecture"), c.getIntList("widths"), c.getIntList("blocks"));
        Check.oneOf(where + ".architecture", spec.architecture, ARCHITECTURES);
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
