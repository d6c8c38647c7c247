package io.distillery.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigRenderOptions;
import io.distillery.errors.BadInputException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The typed view of one pipeline configuration (the {@code distillery} block). Each stage reads
 * its own settings record; {@link #section(String)} renders a subtree as JSON for provenance.
 */
public record PipelineConfig(Config raw,
                             String runDir,
                             SparkSettings spark,
                             DataSettings data,
                             TeacherSettings teacher,
                             List<TeacherSettings> members,
                             PrecomputeSettings precompute,
                             StudentSettings student,
                             DistillSettings distill,
                             EvaluateSettings evaluate,
                             io.distillery.data.Augmentation augmentation) {

    static PipelineConfig from(Config c) {
        try {
            return new PipelineConfig(c,
                    c.getString("run-dir"),
                    SparkSettings.from(c.getConfig("spark")),
                    DataSettings.from(c.getConfig("data")),
                    TeacherSettings.from(c.getConfig("teacher")),
                    TeacherSettings.members(c),
                    PrecomputeSettings.from(c.getConfig("precompute")),
                    StudentSettings.from(c.getConfig("student")),
                    DistillSettings.from(c.getConfig("distill")),
                    EvaluateSettings.from(c.getConfig("evaluate")),
                    augmentation(c.getConfig("augmentation")));
        } catch (ConfigException e) {
            throw new BadInputException("config: " + e.getMessage(), e);
        }
    }

    private static io.distillery.data.Augmentation augmentation(Config c) {
        Check.atLeast("augmentation.crop-pad", c.getInt("crop-pad"), 0);
        return new io.distillery.data.Augmentation(c.getInt("crop-pad"), c.getBoolean("flip"), c.getLong("seed"));
    }

    /** A subtree rendered as compact JSON with sorted keys: the stage's part of a provenance record. */
    public String section(String path) {
        return raw.getValue(path).render(ConfigRenderOptions.concise().setJson(true));
    }

    /** The whole pipeline as readable HOCON, as written into reports. */
    public String render() {
        return raw.root().render(ConfigRenderOptions.defaults().setOriginComments(false).setComments(false));
    }

    public record SparkSettings(String master, String appName, Map<String, String> conf) {
        static SparkSettings from(Config c) {
            Map<String, String> conf = new LinkedHashMap<>();
            Config confTree = c.getConfig("conf");
            for (var e : confTree.entrySet()) {
                // Spark keys contain dots, which HOCON reads as nesting; quoted keys come back with quotes.
                conf.put(e.getKey().replace("\"", ""), String.valueOf(e.getValue().unwrapped()));
            }
            return new SparkSettings(c.getString("master"), c.getString("app-name"), conf);
        }
    }

    public record DataSettings(String name, String format, String path, List<String> classNames,
                               List<Integer> imageSize, double validationFraction, double testFraction,
                               int limit, int shardRows, long seed) {
        static DataSettings from(Config c) {
            DataSettings d = new DataSettings(c.getString("name"), c.getString("format"), c.getString("path"),
                    c.getStringList("class-names"), c.getIntList("image-size"),
                    c.getDouble("validation-fraction"), c.getDouble("test-fraction"),
                    c.getInt("limit"), c.getInt("shard-rows"), c.getLong("seed"));
            Check.oneOf("data.format", d.format, List.of("idx", "cifar10", "cifar100", "image-folder"));
            Check.fraction("data.validation-fraction", d.validationFraction);
            Check.fraction("data.test-fraction", d.testFraction);
            Check.atLeast("data.shard-rows", d.shardRows, 1);
            Check.atLeast("data.limit", d.limit, 0);
            if (!d.imageSize.isEmpty() && d.imageSize.size() != 3) {
                throw new BadInputException("config key 'data.image-size' must be [height, width, channels] or [] (as stored), got " + d.imageSize);
            }
            return d;
        }
    }

    public record TeacherSettings(String name, String importPath, ModelSpec model, TrainSettings train, OnnxInputSettings onnx) {
        static TeacherSettings from(Config c) {
            return new TeacherSettings(Check.name("teacher.name", c.getString("name")), c.getString("import"),
                    ModelSpec.from("teacher.model", c.getConfig("model")), TrainSettings.from("teacher.train", c.getConfig("train")),
                    OnnxInputSettings.from(c.getConfig("onnx")));
        }

        /**
         * The ensemble members of {@code teachers = [ {...}, ... ]}: each object holds a {@code name} and any
         * {@code teacher} keys it changes (import, model, train, onnx); the rest comes from the
         * {@code teacher} block. Empty for a single-teacher pipeline.
         */
        static List<TeacherSettings> members(Config c) {
            List<TeacherSettings> members = new java.util.ArrayList<>();
            java.util.Set<String> names = new java.util.HashSet<>();
            Config defaults = c.getConfig("teacher");
            java.util.Set<String> known = new java.util.TreeSet<>();
            defaults.entrySet().forEach(e -> known.add(e.getKey()));
            List<? extends Config> list = c.getConfigList("teachers");
            for (int i = 0; i < list.size(); i++) {
                Config member = list.get(i);
                String key = "teachers[" + i + "]";
                if (!member.hasPath("name")) {
                    throw new BadInputException("config key '" + key + ".name' is missing; every ensemble member needs a name");
                }
                for (var e : member.entrySet()) {
                    if (!known.contains(e.getKey()) && known.stream().noneMatch(k -> k.startsWith(e.getKey() + "."))) {
                        throw new BadInputException("unknown config key '" + key + "." + e.getKey() + "'; a member takes the keys of 'teacher': "
                                + known.stream().map(k -> k.contains(".") ? k.substring(0, k.indexOf('.')) : k).distinct().toList());
                    }
                }
                TeacherSettings t = from(member.withFallback(defaults.withoutPath("import")).withFallback(
                        com.typesafe.config.ConfigFactory.parseMap(Map.of("import", ""))));
                Check.name(key + ".name", t.name());
                if (!names.add(t.name())) {
                    throw new BadInputException("config key '" + key + ".name': teacher '" + t.name() + "' appears twice in 'teachers'");
                }
                members.add(t);
            }
            if (members.size() == 1) {
                throw new BadInputException("config key 'teachers' names one teacher; an ensemble needs two or more (use the 'teacher' block for one)");
            }
            if (!members.isEmpty() && names.contains(c.getString("teacher.name"))) {
                throw new BadInputException("config key 'teacher.name' ('" + c.getString("teacher.name") + "') names the ensemble's table and must differ"
                        + " from its members' names " + names);
            }
            return List.copyOf(members);
        }

        public boolean imported() {
            return !importPath.isBlank();
        }

        /** Whether {@code import} names an ONNX model ({@code .onnx}) rather than a DL4J zip. */
        public boolean importsOnnx() {
            return imported() && importPath.trim().toLowerCase(java.util.Locale.ROOT).endsWith(".onnx");
        }
    }

    /**
     * {@code teacher.onnx}: how stored pixels p (0..255) reach an imported ONNX teacher's input:
     * (p * scale - mean[c]) / std[c], laid out NCHW or NHWC; which graph output holds the logits.
     */
    public record OnnxInputSettings(String layout, double scale, List<Double> mean, List<Double> std, String logitsOutput)
            implements java.io.Serializable {
        static OnnxInputSettings from(Config c) {
            OnnxInputSettings o = new OnnxInputSettings(c.getString("layout").trim().toUpperCase(java.util.Locale.ROOT), c.getDouble("scale"),
                    List.copyOf(c.getDoubleList("mean")), List.copyOf(c.getDoubleList("std")), c.getString("logits-output").trim());
            Check.oneOf("teacher.onnx.layout", o.layout, List.of("NCHW", "NHWC"));
            if (!(o.scale > 0) || Double.isInfinite(o.scale)) {
                throw new BadInputException("config key 'teacher.onnx.scale' must be a positive number, got " + o.scale);
            }
            for (double s : o.std) {
                if (!(s > 0) || Double.isInfinite(s)) {
                    throw new BadInputException("config key 'teacher.onnx.std' must hold positive numbers, got " + o.std);
                }
            }
            return o;
        }

        /** Per-channel mean for {@code channels} channels (one value repeats; [] is 0); a wrong count is a one-line error. */
        public float[] meanFor(int channels) {
            return perChannel("teacher.onnx.mean", mean, channels, 0f);
        }

        public float[] stdFor(int channels) {
            return perChannel("teacher.onnx.std", std, channels, 1f);
        }

        private static float[] perChannel(String key, List<Double> values, int channels, float none) {
            float[] out = new float[channels];
            if (values.isEmpty()) {
                java.util.Arrays.fill(out, none);
            } else if (values.size() == 1) {
                java.util.Arrays.fill(out, values.get(0).floatValue());
            } else if (values.size() == channels) {
                for (int i = 0; i < channels; i++) {
                    out[i] = values.get(i).floatValue();
                }
            } else {
                throw new BadInputException("config key '" + key + "' has " + values.size() + " values but the images have " + channels
                        + " channels; give one per channel, one for all, or []");
            }
            return out;
        }
    }

    public record PrecomputeSettings(List<String> taps, String tapEncoding, String logitsEncoding, int batchSize,
                                     List<String> splits, String engine, String device, int views) {
        /** {@code engine}: run a DL4J teacher with its own {@code output()}, or exported to ONNX in ONNX Runtime. */
        public static final String DL4J = "dl4j";
        public static final String ONNX_RUNTIME = "onnxruntime";
        /** {@code device}: where ONNX Runtime runs the teacher; CUDA needs the onnxruntime-gpu build. */
        public static final String CPU = "cpu";
        public static final String CUDA = "cuda";

        static PrecomputeSettings from(Config c) {
            PrecomputeSettings p = new PrecomputeSettings(c.getStringList("taps"), c.getString("tap-encoding"),
                    c.getString("logits-encoding"), c.getInt("batch-size"), c.getStringList("splits"),
                    c.getString("engine").trim().toLowerCase(java.util.Locale.ROOT), c.getString("device").trim().toLowerCase(java.util.Locale.ROOT),
                    c.getInt("views"));
            Check.atLeast("precompute.views", p.views, 0);
            Check.atLeast("precompute.batch-size", p.batchSize, 1);
            Check.oneOf("precompute.engine", p.engine, List.of(DL4J, ONNX_RUNTIME));
            Check.oneOf("precompute.device", p.device, List.of(CPU, CUDA));
            io.distillery.table.TapSpec.parseAll("precompute.taps", p.taps);
            for (String split : p.splits) {
                Check.oneOf("precompute.splits", split, List.of("train", "validation", "test"));
            }
            // K <= classes waits for precompute, which knows the teacher's class count.
            p.parsedTapEncoding();
            p.parsedLogitsEncoding();
            return p;
        }

        /** These settings with other taps (sequential FEED precomputes a student's own layers). */
        public PrecomputeSettings withTaps(List<String> otherTaps) {
            return new PrecomputeSettings(List.copyOf(otherTaps), tapEncoding, logitsEncoding, batchSize, splits, engine, device, views);
        }

        /** {@code tap-encoding}: float16, float32 or int8 (taps are stored dense). */
        public io.distillery.tensor.TensorEncoding parsedTapEncoding() {
            try {
                return io.distillery.tensor.TensorEncoding.fromConfig(tapEncoding);
            } catch (BadInputException e) {
                throw new BadInputException("config key 'precompute.tap-encoding': " + e.getMessage()
                        + (tapEncoding.trim().toLowerCase(java.util.Locale.ROOT).startsWith("topk") ? "; top-k is for logits-encoding only" : ""));
            }
        }

        /** {@code logits-encoding}: float32, float16, int8 or topk:K (K >= 1 here; K <= classes is checked by precompute). */
        public io.distillery.tensor.ColumnEncoding parsedLogitsEncoding() {
            try {
                return io.distillery.tensor.ColumnEncoding.fromConfig(logitsEncoding);
            } catch (BadInputException e) {
                throw new BadInputException("config key 'precompute.logits-encoding': " + e.getMessage());
            }
        }
    }

    public record StudentSettings(String name, ModelSpec model) {
        static StudentSettings from(Config c) {
            return new StudentSettings(Check.name("student.name", c.getString("name")), ModelSpec.from("student.model", c.getConfig("model")));
        }
    }

    /**
     * The student's objective: CE and Hinton KD on logits, a FitNets hint, the feature-level methods
     * (each off at weight 0) and per-epoch head weight multipliers.
     */
    public record DistillSettings(TrainSettings train, double ceWeight, double kdWeight, double temperature,
                                  double hintWeight, String hintStudentLayer, String hintTeacherTap,
                                  MethodSettings.At at, MethodSettings.Rtk rtk, MethodSettings.Kdfm kdfm,
                                  MethodSettings.InDistill indistill, MethodSettings.Feed feed, Map<String, List<Double>> schedule,
                                  List<String> teachers, MethodSettings.CdfkdMfs cdfkdMfs) {

        /** Logit and hint methods only. */
        public DistillSettings(TrainSettings train, double ceWeight, double kdWeight, double temperature,
                               double hintWeight, String hintStudentLayer, String hintTeacherTap) {
            this(train, ceWeight, kdWeight, temperature, hintWeight, hintStudentLayer, hintTeacherTap, MethodSettings.At.off(),
                    MethodSettings.Rtk.off(), MethodSettings.Kdfm.off(), MethodSettings.InDistill.off(), MethodSettings.Feed.off(), Map.of(),
                    List.of(), MethodSettings.CdfkdMfs.off());
        }

        static DistillSettings from(Config c) {
            DistillSettings d = new DistillSettings(TrainSettings.from("distill.train", c.getConfig("train")),
                    c.getDouble("loss.ce-weight"), c.getDouble("loss.kd-weight"), c.getDouble("loss.temperature"),
                    c.getDouble("loss.hint-weight"), c.getString("hint.student-layer"), c.getString("hint.teacher-tap"),
                    MethodSettings.At.from(c.getConfig("at")), MethodSettings.Rtk.from(c.getConfig("rtk")),
                    MethodSettings.Kdfm.from(c.getConfig("kdfm")), MethodSettings.InDistill.from(c.getConfig("indistill")),
                    MethodSettings.Feed.from(c.getConfig("feed")), MethodSettings.schedule(c.getConfig("schedule")),
                    List.copyOf(c.getStringList("teachers")), MethodSettings.CdfkdMfs.from(c.getConfig("cdfkd-mfs")));
            Check.atLeast("distill.loss.ce-weight", d.ceWeight, 0);
            Check.atLeast("distill.loss.kd-weight", d.kdWeight, 0);
            Check.atLeast("distill.loss.hint-weight", d.hintWeight, 0);
            if (d.temperature <= 0) {
                throw new BadInputException("config key 'distill.loss.temperature' must be > 0, got " + d.temperature);
            }
            if (d.hintWeight > 0 && (d.hintStudentLayer.isBlank() || d.hintTeacherTap.isBlank())) {
                throw new BadInputException("config: distill.loss.hint-weight > 0 needs distill.hint.student-layer and distill.hint.teacher-tap");
            }
            if (d.cdfkdMfs.enabled() && (d.usesHint() || d.at.weight() > 0 || d.rtk.weight() > 0 || d.kdfm.enabled() || d.indistill.weight() > 0
                    || d.feed.weight() > 0)) {
                throw new BadInputException("config: distill.cdfkd-mfs is data-free and trains alone; turn the other feature methods off"
                        + " (hint, at, rtk, kdfm, indistill, feed)");
            }
            double weights = d.ceWeight + d.kdWeight + d.hintWeight + d.at.weight() + d.rtk.weight() + d.indistill.weight() + d.feed.weight();
            if (weights == 0 && !d.kdfm.enabled()) {
                throw new BadInputException("config: distill.loss weights are all zero and no method is on; nothing to train");
            }
            return d;
        }

        /** The same settings with other FEED settings (a sequential FEED generation reads its predecessor's layer). */
        public DistillSettings withFeed(MethodSettings.Feed other) {
            return new DistillSettings(train, ceWeight, kdWeight, temperature, hintWeight, hintStudentLayer, hintTeacherTap, at, rtk, kdfm,
                    indistill, other, schedule, teachers, cdfkdMfs);
        }

        public boolean usesHint() {
            return hintWeight > 0;
        }
    }

    /** Whether this pipeline has an ensemble of teachers ({@code teachers} non-empty). */
    public boolean ensemble() {
        return !members.isEmpty();
    }

    /**
     * The teachers the distilled student learns from: {@code distill.teachers} by name (checked
     * against {@code teachers}), or all members when it is empty; the single teacher otherwise.
     */
    public List<String> distillTeachers() {
        if (!ensemble()) {
            if (!distill.teachers().isEmpty() && !distill.teachers().equals(List.of(teacher.name()))) {
                throw new BadInputException("config key 'distill.teachers' is " + distill.teachers() + " but the pipeline has one teacher, '"
                        + teacher.name() + "'; list ensemble members in 'teachers' first");
            }
            return List.of(teacher.name());
        }
        List<String> names = members.stream().map(TeacherSettings::name).toList();
        for (String t : distill.teachers()) {
            if (!names.contains(t)) {
                throw new BadInputException("config key 'distill.teachers' names '" + t + "', which is not in 'teachers' " + names);
            }
        }
        return distill.teachers().isEmpty() ? names : distill.teachers();
    }

    /** @param onnx also evaluate each DL4J model's ONNX export in ONNX Runtime, beside DL4J */
    public record EvaluateSettings(int speedImages, List<Integer> speedBatchSizes, int warmupBatches, boolean onnx) {
        static EvaluateSettings from(Config c) {
            EvaluateSettings e = new EvaluateSettings(c.getInt("speed-images"), c.getIntList("speed-batch-sizes"), c.getInt("warmup-batches"),
                    c.getBoolean("onnx"));
            Check.atLeast("evaluate.speed-images", e.speedImages, 1);
            return e;
        }
    }
}
