package io.distillery.jobs.preflight;

import org.apache.spark.SparkConf;

import java.util.Locale;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Executor memory against ND4J's off-heap limits (see cluster-config/README.md, "Memory sizing").
 * ND4J allocates outside the heap, up to javacpp's {@code maxbytes}; {@code maxphysicalbytes} caps
 * the process's resident memory. YARN and Kubernetes kill a container that grows past
 * {@code spark.executor.memory + spark.executor.memoryOverhead}, so the overhead must hold maxbytes
 * plus about 1g for the JVM's own native memory, and maxphysicalbytes must stay inside the
 * container so that ND4J's OutOfMemoryError comes before the kill. Everywhere, maxphysicalbytes
 * below heap + maxbytes makes ND4J fail before it reaches its own limit.
 */
public final class MemoryCheck {
    static final String NAME = "memory";
    static final long MIB = 1L << 20;
    static final long GIB = 1L << 30;
    static final String MAXBYTES = "org.bytedeco.javacpp.maxbytes";
    static final String MAXPHYSICAL = "org.bytedeco.javacpp.maxphysicalbytes";
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(%|[tgmk]b?|b)?", Pattern.CASE_INSENSITIVE);

    private MemoryCheck() {
    }

    /** What one JVM has: heap (-Xmx) and javacpp's effective limits. */
    public record Limits(long heap, long maxBytes, long maxPhysicalBytes) {
    }

    /**
     * @param master  the Spark master URL: {@code local} or {@code local[...]} means one JVM, whose own limits are {@code driver}
     * @param driver  the driver JVM's limits (used in local mode, where the driver is the only executor)
     */
    public static Check check(SparkConf conf, String master, Limits driver) {
        if (Preflight.isLocal(master)) {
            String facts = "local mode, one JVM: heap " + size(driver.heap()) + ", ND4J off-heap maxbytes " + size(driver.maxBytes())
                    + ", maxphysicalbytes " + size(driver.maxPhysicalBytes());
            if (driver.maxPhysicalBytes() > 0 && driver.maxPhysicalBytes() < driver.heap() + driver.maxBytes()) {
                return Check.problem(NAME, facts + ": maxphysicalbytes is below heap + maxbytes, so ND4J fails before it reaches its own "
                        + "limit; set -D" + MAXPHYSICAL + " to at least " + size(driver.heap() + driver.maxBytes()) + " (bin/distill: DISTILLERY_OFFHEAP_PHYSICAL)");
            }
            return Check.ok(NAME, facts);
        }
        long heap = conf.getSizeAsMb("spark.executor.memory", "1g") * MIB;
        String options = conf.get("spark.executor.extraJavaOptions", "");
        String rawMax = option(options, MAXBYTES, "org.bytedeco.javacpp.maxBytes");
        String rawPhysical = option(options, MAXPHYSICAL, "org.bytedeco.javacpp.maxPhysicalBytes");
        OptionalLong parsedMax = rawMax == null ? OptionalLong.of(heap) : parseBytes(rawMax, heap);
        if (parsedMax.isEmpty()) {
            return unreadable(MAXBYTES, rawMax);
        }
        long maxBytes = parsedMax.getAsLong();
        // javacpp's default cap: maxbytes + 3 x the heap.
        OptionalLong parsedPhysical = rawPhysical == null ? OptionalLong.of(maxBytes + 3 * heap) : parseBytes(rawPhysical, heap);
        if (parsedPhysical.isEmpty()) {
            return unreadable(MAXPHYSICAL, rawPhysical);
        }
        long physical = parsedPhysical.getAsLong();
        String limits = "ND4J maxbytes " + size(maxBytes) + (rawMax == null ? " (not set: javacpp's default, the heap)" : "")
                + ", maxphysicalbytes " + size(physical) + (rawPhysical == null ? " (not set: javacpp's default, maxbytes + 3 x heap)" : "");
        if (physical > 0 && physical < heap + maxBytes) {
            return Check.problem(NAME, "executors: " + limits + ", heap " + size(heap) + ": maxphysicalbytes is below heap + maxbytes, so ND4J "
                    + "fails before it reaches its own limit; set -D" + MAXPHYSICAL + "=" + gigs(heap + maxBytes + GIB)
                    + " in spark.executor.extraJavaOptions");
        }
        boolean containers = master.startsWith("yarn") || master.startsWith("k8s://");
        if (!containers) {
            return Check.ok(NAME, "executors (" + manager(master) + ", which does not enforce memoryOverhead): heap " + size(heap) + ", "
                    + limits + "; each host needs about heap + maxbytes + 1g = " + size(heap + maxBytes + GIB) + " of RAM per executor");
        }
        long overhead = conf.contains("spark.executor.memoryOverhead")
                ? conf.getSizeAsMb("spark.executor.memoryOverhead", "0") * MIB
                : Math.max(384 * MIB, (long) (conf.getDouble("spark.executor.memoryOverheadFactor", 0.10) * heap));
        long offHeap = conf.getBoolean("spark.memory.offHeap.enabled", false) ? conf.getSizeAsMb("spark.memory.offHeap.size", "0") * MIB : 0;
        long container = heap + overhead + offHeap;
        String facts = "executors (" + manager(master) + "): container " + size(container) + " = heap " + size(heap) + " + overhead "
                + size(overhead) + (conf.contains("spark.executor.memoryOverhead") ? "" : " (Spark's default)")
                + (offHeap > 0 ? " + Spark off-heap " + size(offHeap) : "") + "; " + limits;
        if (overhead < maxBytes + GIB) {
            return Check.problem(NAME, facts + ": the overhead does not hold ND4J's maxbytes plus about 1g for the JVM itself, so "
                    + manager(master) + " will kill executors; set spark.executor.memoryOverhead=" + gigs(maxBytes + 2 * GIB)
                    + " (maxbytes + 2g), or lower -D" + MAXBYTES + " in spark.executor.extraJavaOptions");
        }
        if (physical <= 0 || physical > container) {
            return Check.problem(NAME, facts + ": maxphysicalbytes " + (physical <= 0 ? "is off" : "is larger than the container")
                    + ", so " + manager(master) + " kills an executor before ND4J reports OutOfMemoryError; set -D" + MAXPHYSICAL + "="
                    + gigs(container - GIB) + " (container - 1g) in spark.executor.extraJavaOptions");
        }
        return Check.ok(NAME, facts);
    }

    private static Check unreadable(String key, String raw) {
        return Check.problem(NAME, "cannot read -D" + key + "=" + raw + " in spark.executor.extraJavaOptions: expected a size such as 4G, 4096m "
                + "or a percentage of the heap");
    }

    private static String manager(String master) {
        if (master.startsWith("yarn")) {
            return "YARN";
        }
        if (master.startsWith("k8s://")) {
            return "Kubernetes";
        }
        return master.startsWith("spark://") ? "standalone" : master;
    }

    /** The value of the last {@code -Dkey=value} among the JVM options, under either spelling; null when absent. */
    static String option(String options, String... keys) {
        String value = null;
        for (String token : options.trim().split("\\s+")) {
            for (String key : keys) {
                if (token.startsWith("-D" + key + "=")) {
                    value = token.substring(key.length() + 3).replace("\"", "").replace("'", "");
                }
            }
        }
        return value;
    }

    /** javacpp's byte sizes: a number with an optional t, g, m, k (b optional) suffix, or a percentage of {@code heap}. */
    static OptionalLong parseBytes(String raw, long heap) {
        Matcher m = SIZE.matcher(raw.trim());
        if (!m.matches()) {
            return OptionalLong.empty();
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "" : m.group(2).toLowerCase(Locale.ROOT);
        return OptionalLong.of(switch (unit.isEmpty() ? ' ' : unit.charAt(0)) {
            case '%' -> heap * n / 100;
            case 't' -> n << 40;
            case 'g' -> n << 30;
            case 'm' -> n << 20;
            case 'k' -> n << 10;
            default -> n;
        });
    }

    /** 4g, 1.5g, 384m */
    static String size(long bytes) {
        if (bytes >= GIB) {
            double g = bytes / (double) GIB;
            return g == Math.rint(g) ? (long) g + "g" : String.format(Locale.ROOT, "%.1fg", g);
        }
        return Math.round(bytes / (double) MIB) + "m";
    }

    /** A value to set, rounded up to whole gigabytes: 9g. */
    static String gigs(long bytes) {
        return ((bytes + GIB - 1) / GIB) + "g";
    }
}
