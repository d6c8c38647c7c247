package io.distillery.prep.readers;

import io.distillery.errors.BadInputException;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The images of a class-per-subfolder dataset and their labels, as torchvision's ImageFolder sees it:
 * classes are the subfolder names sorted by code unit (no locale), a label is the index of its class,
 * and entries are sorted by label, then path. Fixing the order here, not in the file system, is what
 * makes labels and row order the same on every machine and every retry.
 *
 * @param root        the folder, as named in messages
 * @param classNames  sorted class names; label {@code i} is {@code classNames.get(i)}
 * @param entries     every image, sorted by label then relative path
 */
public record FolderListing(String root, List<String> classNames, List<Entry> entries) {
    /**
     * One image: its path relative to the root, with '/' separators, and its label. Serializable
     * because the prep job ships slices of entries to its Spark tasks inside {@code RawSource}s.
     */
    public record Entry(String relativePath, int label) implements Serializable {
    }

    public FolderListing {
        classNames = List.copyOf(classNames);
        entries = List.copyOf(entries);
    }

    /**
     * Builds the listing from names alone, so any file system (local, HDFS, S3 via Hadoop) can supply
     * them. {@code classDirs} are the root's subfolder names; {@code files} are file paths relative to
     * the root with '/' separators, in any order. Files outside a class folder, without a png/jpg/jpeg
     * extension (any case), or with a path part starting with '.' are ignored, as are hidden folders.
     */
    public static FolderListing of(String root, Collection<String> classDirs, Collection<String> files) {
        TreeSet<String> sortedClasses = new TreeSet<>();
        for (String dir : classDirs) {
            if (!dir.startsWith(".")) {
                sortedClasses.add(dir);
            }
        }
        if (sortedClasses.isEmpty()) {
            throw new BadInputException("image folder " + root
                    + " has no class subfolders; expected one subfolder per class holding png/jpg/jpeg images");
        }
        Map<String, Integer> labels = new TreeMap<>();
        for (String name : sortedClasses) {
            labels.put(name, labels.size());
        }
        List<Entry> entries = new ArrayList<>();
        for (String file : files) {
            int slash = file.indexOf('/');
            Integer label = slash < 0 ? null : labels.get(file.substring(0, slash));
            if (label != null && isImage(file) && !isHidden(file)) {
                entries.add(new Entry(file, label));
            }
        }
        entries.sort(Comparator.comparingInt(Entry::label).thenComparing(Entry::relativePath));
        List<String> classNames = List.copyOf(sortedClasses);
        boolean[] seen = new boolean[classNames.size()];
        entries.forEach(e -> seen[e.label()] = true);
        for (int i = 0; i < seen.length; i++) {
            if (!seen[i]) {
                throw new BadInputException("image folder " + root + ": class folder " + classNames.get(i)
                        + " holds no png/jpg/jpeg images; remove it or add images");
            }
        }
        return new FolderListing(root, classNames, entries);
    }

    /** The name of an entry's file for messages: root and relative path. */
    public String fileName(Entry entry) {
        return root.endsWith("/") ? root + entry.relativePath() : root + "/" + entry.relativePath();
    }

    static boolean isImage(String path) {
        String lower = path.toLowerCase(Locale.ROOT);
        return lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg");
    }

    private static boolean isHidden(String path) {
        return path.startsWith(".") || path.contains("/.");
    }
}
