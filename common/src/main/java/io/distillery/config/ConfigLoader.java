package io.distillery.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigResolveOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValueType;
import io.distillery.errors.BadInputException;

import java.io.File;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads a pipeline: built-in defaults ({@value #DEFAULTS}), then a HOCON file, then
 * {@code --set key=value} overrides, and rejects any key the defaults do not define.
 */
public final class ConfigLoader {
    /** Free-form subtrees whose keys are passed through unchecked. */
    private static final List<String> OPEN_SUBTREES = List.of("distillery.spark.conf", "distillery.distill.schedule");
    private static final String ROOT = "distillery";
    /** The defaults: every valid key, documented. */
    public static final String DEFAULTS = "distillery-reference.conf";

    private ConfigLoader() {
    }

    /**
     * @param base     a HOCON file, or {@code null} for the defaults alone
     * @param resource a classpath resource used instead of a file (built-in configs), or {@code null}
     * @param sets     overrides as {@code key=value}; keys may omit the leading {@code distillery.}
     */
    public static PipelineConfig load(File base, String resource, List<String> sets) {
        Config user = ConfigFactory.empty();
        if (resource != null) {
            user = ConfigFactory.parseResources(resource, ConfigParseOptions.defaults().setAllowMissing(false));
        }
        if (base != null) {
            if (!base.isFile()) {
                throw new BadInputException("config file " + base + " does not exist");
            }
            try {
                user = ConfigFactory.parseFile(base, ConfigParseOptions.defaults().setAllowMissing(false)).withFallback(user);
            } catch (ConfigException e) {
                throw new BadInputException("config file " + base + ": " + e.getMessage(), e);
            }
        }
        for (String set : sets == null ? List.<String>of() : sets) {
            user = parseSet(set).withFallback(user);
        }
        // Unresolved on purpose: substitutions like teacher.train = ${distillery.train-defaults} must see the user's values.
        Config reference = ConfigFactory.parseResources(DEFAULTS, ConfigParseOptions.defaults().setAllowMissing(false));
        Config merged;
        try {
            merged = user.withFallback(reference).resolve(ConfigResolveOptions.defaults());
            // Resolve the user's own layer against the merged tree so substitutions in it can be listed.
            rejectUnknownKeys(user.resolveWith(merged), reference);
        } catch (ConfigException e) {
            throw new BadInputException("config: " + e.getMessage(), e);
        }
        return PipelineConfig.from(merged.getConfig(ROOT));
    }

    static Config parseSet(String set) {
        int eq = set.indexOf('=');
        if (eq <= 0) {
            throw new BadInputException("--set " + set + ": expected key=value, e.g. --set distill.train.epochs=3");
        }
        String key = set.substring(0, eq).trim();
        String value = set.substring(eq + 1).trim();
        if (!key.startsWith(ROOT + ".")) {
            key = ROOT + "." + key;
        }
        // Lists, numbers, booleans and quoted strings are parsed as HOCON; anything else is taken
        // verbatim, so a URI such as hdfs:///runs/x is not cut at HOCON's '//' comment marker.
        Config parsed;
        try {
            parsed = ConfigFactory.parseString(key + " = " + value, ConfigParseOptions.defaults().setSyntax(ConfigSyntax.CONF));
        } catch (ConfigException e) {
            return ConfigFactory.parseMap(Map.of(key, value));
        }
        boolean verbatim = !value.startsWith("\"") && parsed.getValue(key).valueType() == ConfigValueType.STRING;
        return verbatim ? ConfigFactory.parseMap(Map.of(key, value)) : parsed;
    }

    static void rejectUnknownKeys(Config user, Config reference) {
        Set<String> known = new TreeSet<>();
        for (var entry : reference.resolve().entrySet()) {
            known.add(entry.getKey());
        }
        // entrySet() does not list keys whose value is an empty object; keep those (e.g. spark.conf) too.
        known.addAll(OPEN_SUBTREES);
        for (var entry : user.entrySet()) {
            String key = entry.getKey();
            if (OPEN_SUBTREES.stream().anyMatch(open -> key.startsWith(open + "."))) {
                continue;
            }
            if (!known.contains(key)) {
                String nearest = nearest(key, known);
                throw new BadInputException("unknown config key '" + strip(key) + "'; did you mean '" + strip(nearest) + "'?");
            }
        }
    }

    private static String strip(String key) {
        return key.startsWith(ROOT + ".") ? key.substring(ROOT.length() + 1) : key;
    }

    static String nearest(String key, Set<String> candidates) {
        return candidates.stream()
                .min(Comparator.comparingInt((String c) -> levenshtein(key, c)).thenComparing(c -> c))
                .orElse(ROOT);
    }

    static int levenshtein(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
