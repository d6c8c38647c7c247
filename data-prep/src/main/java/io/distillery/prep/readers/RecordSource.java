package io.distillery.prep.readers;

import io.distillery.data.ImageShape;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.NoSuchElementException;

/**
 * Iterator bookkeeping common to every reader: count records against the known size, so a reader
 * only says how to read record {@code i}.
 */
abstract class RecordSource implements ImageSource {
    private final String name;
    private final ImageShape shape;
    private final long size;
    private long next;

    RecordSource(String name, ImageShape shape, long size) {
        this.name = name;
        this.shape = shape;
        this.size = size;
    }

    /** Reads record {@code index}; called with 0, 1, 2, ... in order. */
    protected abstract LabeledImage read(long index) throws IOException;

    @Override
    public final boolean hasNext() {
        return next < size;
    }

    @Override
    public final LabeledImage next() {
        if (!hasNext()) {
            throw new NoSuchElementException(name + ": all " + size + " records already read");
        }
        long index = next++;
        try {
            return read(index);
        } catch (IOException e) {
            throw new UncheckedIOException(name + ": cannot read record " + index + ": " + e.getMessage(), e);
        }
    }

    @Override
    public ImageShape shape() {
        return shape;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public String name() {
        return name;
    }
}
