package io.distillery.onnx;

import io.distillery.config.PipelineConfig.OnnxInputSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import org.apache.spark.TaskContext;
import org.apache.spark.broadcast.Broadcast;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * An imported ONNX teacher as the executors run it: how stored images become its input tensor
 * ({@code teacher.onnx}: layout, scale, per-channel mean/std) and one ORT session per executor
 * thread and broadcast ({@link #session}), with intra-op threads = the task's cores and one
 * inter-op thread, never ORT's default of all cores.
 */
public final class OnnxTeacher implements Serializable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(OnnxTeacher.class);
    /** The file an imported ONNX teacher is stored as under {@code teachers/<name>/}. */
    public static final String MODEL_FILE = "model.onnx";

    private final String input;
    private final ImageShape shape;
    private final boolean nhwc;
    private final float scale;
    private final float[] mean;
    private final float[] std;

    public OnnxTeacher(String input, ImageShape shape, OnnxInputSettings settings) {
        this.input = input;
        this.shape = shape;
        this.nhwc = settings.layout().equals("NHWC");
        this.scale = (float) settings.scale();
        this.mean = settings.meanFor(shape.channels());
        this.std = settings.stdFor(shape.channels());
    }

    /**
     * How images feed a model written by {@link OnnxExport}: NCHW, pixel / 255 computed exactly as
     * DL4J's input is ({@code ExamplesTable.toChw}), so both engines see the same floats.
     */
    public static OnnxTeacher forExport(ImageShape shape) {
        return new OnnxTeacher(OnnxExport.INPUT, shape, new OnnxInputSettings("NCHW", 1, List.of(), List.of(255.0), ""));
    }

    /** The model's input shape for {@code n} images. */
    public long[] inputShape(int n) {
        return nhwc ? new long[]{n, shape.height(), shape.width(), shape.channels()}
                : new long[]{n, shape.channels(), shape.height(), shape.width()};
    }

    /** Writes one stored image (HWC bytes) into {@code dst} at {@code offset}: (p * scale - mean[c]) / std[c], in the model's layout. */
    public void fill(byte[] hwc, float[] dst, int offset) {
        int h = shape.height();
        int w = shape.width();
        int c = shape.channels();
        if (hwc.length != h * w * c) {
            throw new IllegalArgumentException("image has " + hwc.length + " bytes, expected " + (h * w * c) + " for " + shape);
        }
        int plane = h * w;
        for (int pix = 0; pix < plane; pix++) {
            for (int ch = 0; ch < c; ch++) {
                float v = ((hwc[pix * c + ch] & 0xFF) * scale - mean[ch]) / std[ch];
                dst[offset + (nhwc ? pix * c + ch : ch * plane + pix)] = v;
            }
        }
    }

    /** Runs {@code n} images already in {@code features} and returns the named outputs as ORT gives them. */
    public Map<String, OnnxModels.Runner.Tensor> run(OnnxModels.Runner runner, float[] features, int n, List<String> outputs) {
        return runner.run(input, features, inputShape(n), outputs);
    }

    /**
     * Checks the model's declared input shape against the examples' images; a mismatch is a
     * one-line error naming both. Unknown (symbolic) dimensions match anything.
     */
    public static void checkInput(OnnxGraph graph, ImageShape shape, OnnxInputSettings settings, String source) {
        long[] declared = graph.inputShape();
        if (declared.length == 0) {
            return;
        }
        boolean nhwc = settings.layout().equals("NHWC");
        long[] wanted = nhwc ? new long[]{-1, shape.height(), shape.width(), shape.channels()}
                : new long[]{-1, shape.channels(), shape.height(), shape.width()};
        boolean ok = declared.length == 4;
        for (int i = 1; ok && i < 4; i++) {
            ok = declared[i] < 0 || declared[i] == wanted[i];
        }
        if (!ok) {
            throw new BadInputException("teacher " + source + " input '" + graph.inputName() + "' has shape " + graph.inputShapeText()
                    + " but the examples' " + shape + " images are " + settings.layout() + " [N, " + (nhwc
                    ? shape.height() + ", " + shape.width() + ", " + shape.channels()
                    : shape.channels() + ", " + shape.height() + ", " + shape.width()) + "] (teacher.onnx.layout = \"" + settings.layout() + "\")");
        }
    }

    /** Cores of the running Spark task (spark.task.cpus), or {@code fallback} outside a task. */
    public static int taskCores(int fallback) {
        TaskContext tc = TaskContext.get();
        return tc != null ? Math.max(1, tc.cpus()) : Math.max(1, fallback);
    }

    /** The GPU Spark assigned the running task (spark.task.resource.gpu.amount), else 0. */
    public static int taskGpu() {
        TaskContext tc = TaskContext.get();
        if (tc != null && tc.resources().contains("gpu")) {
            String[] addresses = tc.resources().apply("gpu").addresses();
            if (addresses.length > 0) {
                return Integer.parseInt(addresses[0].trim());
            }
        }
        return 0;
    }

    private record Entry(long broadcastId, int threads, int cudaDevice, OnnxModels.Runner runner) {
    }

    private static final ThreadLocal<Entry> SESSIONS = new ThreadLocal<>();

    /**
     * The ORT session of this executor thread for a broadcast model, opened once per thread and
     * broadcast (tasks of a stage reuse it) with {@code threads} intra-op threads and one inter-op
     * thread; a session for an older broadcast is closed.
     */
    public static OnnxModels.Runner session(Broadcast<byte[]> model, int threads) {
        return session(model, threads, -1);
    }

    /** Like {@link #session(Broadcast, int)}, on CUDA device {@code cudaDevice} when it is {@code >= 0}. */
    public static OnnxModels.Runner session(Broadcast<byte[]> model, int threads, int cudaDevice) {
        Entry e = SESSIONS.get();
        if (e == null || e.broadcastId != model.id() || e.threads != threads || e.cudaDevice != cudaDevice) {
            if (e != null) {
                e.runner.close();
            }
            e = new Entry(model.id(), threads, cudaDevice, OnnxModels.open(model.value(), threads, cudaDevice));
            SESSIONS.set(e);
            log.info("ONNX Runtime session for broadcast {} on thread {}: {}{} intra-op thread{}, 1 inter-op thread", model.id(),
                    Thread.currentThread().getName(), cudaDevice >= 0 ? "CUDA device " + cudaDevice + ", " : "", threads, threads == 1 ? "" : "s");
        }
        return e.runner;
    }

    @Override
    public String toString() {
        return "OnnxTeacher[input=" + input + ", " + (nhwc ? "NHWC" : "NCHW") + ", scale=" + scale + ", mean=" + Arrays.toString(mean)
                + ", std=" + Arrays.toString(std) + "]";
    }
}
