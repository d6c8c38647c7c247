package io.distillery.prep;

import io.distillery.config.PipelineConfig;
import io.distillery.config.PipelineConfig.DataSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.prep.readers.CifarBinaryReader;
import io.distillery.prep.readers.FolderListing;
import io.distillery.prep.readers.IdxReader;
import io.distillery.prep.readers.ImageFolderReader;
import io.distillery.prep.readers.ImageSource;
import io.distillery.runtime.Storage;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds the raw files of a dataset and plans them as {@link RawSource}s with id ranges. Runs on the
 * driver and reads only headers, lengths and (for image folders) the listing.
 */
public final class SourcePlanner {
    /** Image-folder sources are cut into tasks of this many images. */
    static final int IMAGES_PER_TASK = 2000;
    static final String FASHION_MNIST_HINT = "; install Fashion-MNIST with: sudo apt-get install dataset-fashion-mnist";

    private SourcePlanner() {
    }

    public record Plan(List<RawSource> sources, List<String> classNames, ImageShape shape, Map<String, String> fingerprints) {
    }

    public static Plan plan(Storage storage, PipelineConfig config) {
        DataSettings data = config.data();
        String path = data.path();
        if (!storage.exists(path)) {
            throw new BadInputException("dataset path " + path + " does not exist"
                    + (path.contains("fashion-mnist") ? FASHION_MNIST_HINT : ""));
        }
        return switch (data.format()) {
            case "idx" -> idx(storage, data);
            case "cifar10" -> cifar(storage, data, RawSource.Kind.CIFAR10, "cifar-10-batches-bin",
                    List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"),
                    "test_batch.bin", CifarBinaryReader.Variant.CIFAR10);
            case "cifar100" -> cifar(storage, data, RawSource.Kind.CIFAR100, "cifar-100-binary", List.of("train.bin"), "test.bin",
                    CifarBinaryReader.Variant.CIFAR100_FINE);
            case "image-folder" -> folder(storage, data, imageSizeSet(config));
            default -> throw new BadInputException("config key 'data.format' is '" + data.format() + "'");
        };
    }

    private static Plan idx(Storage storage, DataSettings data) {
        List<RawSource> sources = new ArrayList<>();
        Map<String, String> fingerprints = new LinkedHashMap<>();
        ImageShape shape = null;
        long nextId = 0;
        for (String prefix : List.of("train", "t10k")) {
            String images = find(storage, data.path(), prefix + "-images-idx3-ubyte");
            String labels = find(storage, data.path(), prefix + "-labels-idx1-ubyte");
            long records;
            try (ImageSource s = IdxReader.open(images, storage.open(images), labels, storage.open(labels))) {
                shape = s.shape();
                records = limited(s.size(), data.limit());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            sources.add(new RawSource(RawSource.Kind.IDX, List.of(images, labels), List.of(), nextId, records,
                    prefix.equals("t10k") ? "test" : null, shape, false, data.path()));
            nextId += records;
            fingerprints.put(name(images), storage.sha256(images));
            fingerprints.put(name(labels), storage.sha256(labels));
        }
        return new Plan(sources, data.classNames(), shape, fingerprints);
    }

    private static Plan cifar(Storage storage, DataSettings data, RawSource.Kind kind, String subfolder, List<String> trainFiles,
                              String testFile, CifarBinaryReader.Variant variant) {
        String dir = storage.exists(Storage.join(data.path(), testFile)) ? data.path() : Storage.join(data.path(), subfolder);
        List<RawSource> sources = new ArrayList<>();
        Map<String, String> fingerprints = new LinkedHashMap<>();
        long nextId = 0;
        List<String> files = new ArrayList<>(trainFiles);
        files.add(testFile);
        for (String f : files) {
            String file = Storage.join(dir, f);
            if (!storage.exists(file)) {
                throw new BadInputException("dataset path " + data.path() + " has no " + f + " (looked in " + dir + "); expected the "
                        + kind.name().toLowerCase() + " binary version");
            }
            long records = limited(storage.size(file) / variant.recordBytes(), data.limit());
            sources.add(new RawSource(kind, List.of(file), List.of(), nextId, records, f.equals(testFile) ? "test" : null,
                    new ImageShape(32, 32, 3), false, dir));
            nextId += records;
            fingerprints.put(f, storage.sha256(file));
        }
        return new Plan(sources, data.classNames(), new ImageShape(32, 32, 3), fingerprints);
    }

    /**
     * Whether the pipeline sets {@code data.image-size} rather than inheriting the reference file's
     * default. Resizing to that default unasked would turn a folder of mixed sizes into one silently
     * (and stretch every 28x28 image to 32x32x3), so unset means: store the images as they are, which
     * needs them all to have one shape.
     */
    static boolean imageSizeSet(PipelineConfig config) {
        return !config.data().imageSize().isEmpty();
    }

    private static Plan folder(Storage storage, DataSettings data, boolean resize) {
        String root = storage.qualify(data.path());
        List<String> classDirs = new ArrayList<>();
        List<String> files = new ArrayList<>();
        StringBuilder listingFingerprint = new StringBuilder();
        try {
            FileSystem fs = storage.fs(root);
            for (FileStatus s : fs.listStatus(new Path(root))) {
                if (s.isDirectory()) {
                    classDirs.add(s.getPath().getName());
                }
            }
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(new Path(root), true);
            String prefix = new Path(root).toUri().getPath();
            while (it.hasNext()) {
                LocatedFileStatus f = it.next();
                String rel = f.getPath().toUri().getPath().substring(prefix.length()).replaceFirst("^/", "");
                files.add(rel);
                listingFingerprint.append(rel).append('\t').append(f.getLen()).append('\n');
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + root, e);
        }
        FolderListing listing = FolderListing.of(root, classDirs, files);
        List<FolderListing.Entry> entries = listing.entries();
        if (data.limit() > 0 && entries.size() > data.limit()) {
            entries = entries.subList(0, data.limit());
        }
        ImageShape shape = resize ? requestedShape(data) : firstImageShape(storage, listing);
        List<RawSource> sources = new ArrayList<>();
        for (int start = 0; start < entries.size(); start += IMAGES_PER_TASK) {
            List<FolderListing.Entry> slice = List.copyOf(entries.subList(start, Math.min(entries.size(), start + IMAGES_PER_TASK)));
            sources.add(new RawSource(RawSource.Kind.IMAGE_FOLDER, List.of(), slice, start, slice.size(), null, shape, resize, root));
        }
        List<String> classNames = data.classNames().isEmpty() ? listing.classNames() : data.classNames();
        // Without data.image-size the shape comes from the images themselves, not the config: record it
        // among the provenance's inputs so that a different stored shape never looks up to date.
        return new Plan(sources, classNames, shape, Map.of("listing", sha256(listingFingerprint.toString()),
                "image_shape", (resize ? "resized to " : "as stored: ") + shape));
    }

    private static ImageShape requestedShape(DataSettings data) {
        List<Integer> size = data.imageSize();
        ImageShape shape = new ImageShape(size.get(0), size.get(1), size.get(2));
        if (shape.channels() != 1 && shape.channels() != 3) {
            throw new BadInputException("config key 'data.image-size' asks for " + shape.channels() + " channels; expected 1 or 3");
        }
        return shape;
    }

    /** The stored shape of the listing's first image (every class folder holds one, so there is a first). */
    private static ImageShape firstImageShape(Storage storage, FolderListing listing) {
        FolderListing.Entry first = listing.entries().get(0);
        try (InputStream in = storage.open(Storage.join(listing.root(), first.relativePath()))) {
            return ImageFolderReader.storedShape(listing.fileName(first), in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + listing.fileName(first), e);
        }
    }

    private static String find(Storage storage, String dir, String base) {
        for (String candidate : List.of(base + ".gz", base)) {
            String p = Storage.join(dir, candidate);
            if (storage.exists(p)) {
                return p;
            }
        }
        throw new BadInputException("dataset path " + dir + " has no " + base + " or " + base + ".gz; expected MNIST-style idx files"
                + (dir.contains("fashion-mnist") ? FASHION_MNIST_HINT : ""));
    }

    private static long limited(long records, int limit) {
        return limit > 0 ? Math.min(records, limit) : records;
    }

    private static String name(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    private static String sha256(String s) {
        try {
            var md = java.security.MessageDigest.getInstance("SHA-256");
            return "sha256:" + java.util.HexFormat.of().formatHex(md.digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
