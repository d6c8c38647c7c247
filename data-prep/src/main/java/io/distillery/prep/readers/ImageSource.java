package io.distillery.prep.readers;

import io.distillery.data.ImageShape;

import java.io.Closeable;
import java.util.Iterator;

/**
 * A dataset read one record at a time, so a Spark task can stream a file of any size from a Hadoop
 * input stream. Every record has the same {@link #shape()}; the order is the file's order, which is
 * deterministic, so a retried task yields the same rows. Problems in the data surface as
 * {@link io.distillery.errors.BadInputException} from {@code next()}; I/O failures as
 * {@link java.io.UncheckedIOException}.
 */
public interface ImageSource extends Iterator<LabeledImage>, Closeable {
    /** Shape shared by every image of this source. */
    ImageShape shape();

    /** Number of records, known up front from the header or length. */
    long size();

    /** The file name(s) behind this source, for messages. */
    String name();
}
