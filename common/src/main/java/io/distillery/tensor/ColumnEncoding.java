package io.distillery.tensor;

import io.distillery.errors.BadInputException;

import java.io.Serializable;
import java.util.Locale;

/**
 * How one row of a binary tensor column is stored: every element ({@link TensorEncoding}:
 * float32, float16, int8 with a row scale) or only the k largest with their indices
 * ({@link TopKEncoding}, for logits over many classes). The manifest names the encoding of each
 * column ({@link #manifestName()}); README's encodings table gives every byte layout with its numpy
 * decode, so that readers without our code can decode the bytes.
 */
public sealed interface ColumnEncoding extends Serializable permits TensorEncoding, TopKEncoding {

    /** Name in table manifests, e.g. {@code float32-le} or {@code topk-float32-int32-le}. */
    String manifestName();

    /** Name in pipeline configs, e.g. {@code float32} or {@code topk:5}. */
    String configName();

    /** Whether decoding gives back something other than the exact row that was encoded. */
    boolean isLossy();

    /**
     * Whether a row stores only some of the tensor's elements (top-k). Decoding such a row says
     * which elements were stored (the mask of {@link #decodeRow}); a consumer must not read the
     * others as values.
     */
    boolean isSparse();

    /** Bytes of one encoded row of a tensor of {@code width} elements. */
    int byteLength(int width);

    /** Encodes one row (all {@code width} elements of the tensor) into a new array of {@link #byteLength} bytes. */
    byte[] encode(float[] values);

    /**
     * Decodes one row of a tensor of {@code width} elements into {@code dst[offset, offset + width)}.
     * Elements the row does not store (sparse encodings) become 0. When {@code mask} is non-null,
     * {@code mask[offset + i]} becomes 1 where element i is stored and 0 where it is not (all 1 for
     * dense encodings).
     *
     * @throws IllegalArgumentException when the bytes are not a row of this encoding for this width
     *                                  (wrong length; for top-k, an index outside 0..width-1 or repeated),
     *                                  with a message that the caller prefixes with column and id
     */
    void decodeRow(byte[] bytes, int width, float[] dst, float[] mask, int offset);

    /**
     * Parses a logits encoding from a config: {@code float32}, {@code float16}, {@code int8} (or
     * their manifest names) or {@code topk:K}, in any case.
     *
     * @throws BadInputException naming the valid values
     */
    static ColumnEncoding fromConfig(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        if (key.startsWith(TopKEncoding.CONFIG_PREFIX) || key.equals("topk")) {
            return TopKEncoding.fromConfig(name);
        }
        try {
            return TensorEncoding.fromConfig(name);
        } catch (BadInputException e) {
            throw new BadInputException("unknown logits encoding '" + name + "': expected one of float32, float16, int8, topk:K"
                    + " (the K largest logits of each example with their class indices, 1 <= K <= classes)");
        }
    }
}
