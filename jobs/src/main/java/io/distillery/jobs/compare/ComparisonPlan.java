package io.distillery.jobs.compare;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import io.distillery.errors.BadInputException;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code distill compare} runs: rows, each a list of {@code --set} overrides on top of the
 * pipeline config (or the baseline: the student on labels alone), every row once per seed. An
 * experiment is a config file, as in torchdistill: {@code bench/methods.conf} is one.
 */
public record ComparisonPlan(String title, List<Long> seeds, List<Row> rows) {

    /** One row: a display name, a short id (directory names), its overrides, and its own seeds (empty: the plan's). */
    public record Row(String name, String id, boolean baseline, List<String> sets, List<Long> seeds) {
        public Row(String name, String id, boolean baseline, List<String> sets) {
            this(name, id, baseline, sets, List.of());
        }

        /** The seeds this row runs: its own, else the plan's. */
        public List<Long> seedsOr(List<Long> planSeeds) {
            return seeds.isEmpty() ? planSeeds : seeds;
        }
    }

    public static ComparisonPlan load(File file) {
        if (!file.isFile()) {
            throw new BadInputException("comparison plan " + file + " does not exist");
        }
        try {
            Config c = ConfigFactory.parseFile(file).resolve().getConfig("compare");
            List<Row> rows = new ArrayList<>();
            for (Config r : c.getConfigList("rows")) {
                String id = r.getString("id");
                if (!id.matches("[a-z0-9][a-z0-9-]*")) {
                    throw new BadInputException("comparison plan " + file + ": row id '" + id + "' must be lower-case letters, digits and '-'");
                }
                if (rows.stream().anyMatch(x -> x.id().equals(id))) {
                    throw new BadInputException("comparison plan " + file + ": row id '" + id + "' appears twice");
                }
                rows.add(new Row(r.getString("name"), id, r.hasPath("baseline") && r.getBoolean("baseline"),
                        r.hasPath("set") ? r.getStringList("set") : List.of(), r.hasPath("seeds") ? r.getLongList("seeds") : List.of()));
            }
            List<Long> seeds = c.getLongList("seeds");
            if (seeds.isEmpty() || rows.isEmpty()) {
                throw new BadInputException("comparison plan " + file + ": compare.seeds and compare.rows must not be empty");
            }
            return new ComparisonPlan(c.hasPath("title") ? c.getString("title") : file.getName(), seeds, rows);
        } catch (ConfigException e) {
            throw new BadInputException("comparison plan " + file + ": " + e.getMessage(), e);
        }
    }
}
