package io.distillery.prep;

import io.distillery.data.ImageShape;
import io.distillery.prep.readers.CifarBinaryReader;
import io.distillery.prep.readers.FolderListing;
import io.distillery.prep.readers.IdxReader;
import io.distillery.prep.readers.ImageFolderReader;
import io.distillery.prep.readers.ImageSource;
import io.distillery.runtime.Storage;

import java.io.Serializable;
import java.util.List;

/**
 * One unit of raw input that a single Spark task streams into rows: an idx image/label file pair,
 * a CIFAR batch file, or a slice of an image folder. Ids are {@code firstId + record index}, so they
 * are contiguous, unique across sources and the same on every run and retry.
 *
 * @param fixedSplit   the split of every row ("test" for test files), or null to draw train/validation
 *                     (and test, for image folders) from a hash of the id
 * @param resizeImages image folders: resize every image to {@code targetShape} ({@code data.image-size}
 *                     is set); otherwise every image must already have it
 */
public record RawSource(Kind kind, List<String> files, List<FolderListing.Entry> entries, long firstId, long records,
                        String fixedSplit, ImageShape targetShape, boolean resizeImages, String root) implements Serializable {

    public enum Kind { IDX, CIFAR10, CIFAR100, IMAGE_FOLDER }

    /** Opens the reader; all streams go through Hadoop's FileSystem, so executors can read from HDFS. */
    public ImageSource open(Storage storage) {
        return switch (kind) {
            case IDX -> IdxReader.open(files.get(0), storage.open(files.get(0)), files.get(1), storage.open(files.get(1)));
            case CIFAR10 -> CifarBinaryReader.open(files.get(0), storage.open(files.get(0)), storage.size(files.get(0)),
                    CifarBinaryReader.Variant.CIFAR10);
            case CIFAR100 -> CifarBinaryReader.open(files.get(0), storage.open(files.get(0)), storage.size(files.get(0)),
                    CifarBinaryReader.Variant.CIFAR100_FINE);
            case IMAGE_FOLDER -> ImageFolderReader.open(new FolderListing(root, List.of(), entries), targetShape, resizeImages,
                    rel -> storage.open(Storage.join(root, rel)));
        };
    }

    public String describe() {
        return kind == Kind.IMAGE_FOLDER ? root + " (" + entries.size() + " images from id " + firstId + ")" : String.join(" + ", files);
    }
}
