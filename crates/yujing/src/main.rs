//! `yujing`: the command-line front of the early-warning engine.
//!
//! Subcommands: `ingest` export files onto the log (and correlate them), `clues`, `deadletter` and `warnings`
//! read it back, `replay` runs the pipeline over a folder of history in event-time order, `test` runs the rules'
//! test cases, `simulate` and `eval` generate labeled data and score the result, `validate` checks the
//! configuration. Every subcommand has `--help`; `--data-dir` chooses the store, `--config` adds a file over the
//! built-in configuration, `--demo` runs on sample data without a secret.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use yujing_engine::{
    correlate, for_each_clue, for_each_dead_letter, for_each_warning, Built, EngineConfig, Ingestor,
    SystemClock,
};
use yujing_log::EmbeddedLog;
use yujing_model::{FeedId, Warning};

/// yujing (预警): recognises disputes reported again and again across six upstream feeds, and warns.
#[derive(Debug, Parser)]
#[command(name = "yujing", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Where the store lives (overrides store.data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A configuration file layered over the built-in one.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Demo mode: a fixed public secret keys party hashes. For sample data only.
    #[arg(long, global = true)]
    demo: bool,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More logging (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest export files (or directories of them) onto the log.
    ///
    /// The feed of each file is read from its name (hotline12345…jsonl, grid…jsonl, police…csv, screening…csv,
    /// justice…xml, exchange…jsonl) unless --feed names it. Bad records go to the dead-letter store; ingesting the
    /// same file again adds nothing.
    Ingest {
        /// The feed of every file given (otherwise detected from each file name).
        #[arg(long)]
        feed: Option<FeedId>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print the clues on the log as JSON Lines, in log order.
    Clues {
        /// Only clues of this feed.
        #[arg(long)]
        feed: Option<FeedId>,
        /// Only the latest version of each clue.
        #[arg(long)]
        latest: bool,
    },
    /// List rejected records: feed, file, line or record, kind and reason.
    Deadletter {
        /// Only records of this feed.
        #[arg(long)]
        feed: Option<FeedId>,
        /// Print JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the warnings on the log, in the order raised.
    Warnings {
        /// Print JSON Lines (with the evidence) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole pipeline over a folder of upstream export files, in event-time order, into a fresh store.
    ///
    /// Writes OUT/clusters.jsonl (one line per upstream record: feed, source_id, cluster_id),
    /// OUT/warnings.jsonl (one line per warning, with its evidence) and OUT/links.jsonl (every link and merge
    /// with its score and the features that matched). The store is OUT/store, rebuilt each time.
    Replay {
        /// The folder of export files.
        #[arg(long, value_name = "DIR")]
        feeds: PathBuf,
        /// Where to write the store and the two files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Run the test cases the warning rules declare ([[correlate.rules.tests]]).
    Test,
    /// Write labeled synthetic data: export files of the six feeds in OUT/feeds, the truth in OUT/truth.
    Simulate {
        /// The seed; the same seed writes the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How many disputes.
        #[arg(long, default_value_t = 20_000)]
        disputes: usize,
        /// The first day of the simulated period.
        #[arg(long, default_value = "2026-01-01")]
        start: chrono::NaiveDate,
        /// The length of the period, in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Residential estates per town (fewer: more different disputes share an estate, harder).
        #[arg(long, default_value_t = 60)]
        estates_per_town: usize,
    },
    /// Estimate the scoring weights (Fellegi–Sunter log2 m/u per feature level) from labeled data.
    ///
    /// Ingests the simulation's (or any labeled folder's) export files into a scratch store, correlates them
    /// in event-time order while keeping every candidate pair compared, labels each pair from the truth, and
    /// prints the [correlate.scoring] table to put in a configuration file.
    Fit {
        /// The labeled directory: export files in DIR/feeds, truth in DIR/truth/records.jsonl.
        #[arg(long, value_name = "DIR")]
        truth: PathBuf,
        /// Also write the table to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Score a replay against a simulation's truth: clusters (pairwise, B-cubed) and warnings (per level).
    ///
    /// The expected warnings are recomputed from the truth with the rules in force (--config), so a rule
    /// change is scored against what it should raise.
    Eval {
        /// The simulation's output directory (with truth/records.jsonl).
        #[arg(long, value_name = "DIR")]
        truth: PathBuf,
        /// The replay's output directory (with clusters.jsonl and warnings.jsonl).
        #[arg(long, value_name = "DIR")]
        replay: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration and report every error at once.
    Validate,
}

fn init_tracing(global: &Global) {
    let default = match global.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load_config(global: &Global) -> Result<EngineConfig> {
    let mut config = EngineConfig::load(global.config.as_deref())?;
    if let Some(dir) = &global.data_dir {
        config.store.data_dir = dir.clone();
    }
    if global.demo {
        config.pii.demo = true;
    }
    Ok(config)
}

/// Opens the store for reading: works while an ingest is writing it.
fn open_log_for_reading(config: &EngineConfig) -> Result<EmbeddedLog> {
    let dir = &config.store.data_dir;
    if !EmbeddedLog::exists(dir) {
        anyhow::bail!(
            "there is no store at {} (nothing ingested yet?): run `yujing --data-dir {} ingest PATH…` first",
            dir.display(),
            dir.display()
        );
    }
    Ok(EmbeddedLog::open_read_only(dir)?)
}

fn open_log(config: &EngineConfig) -> Result<EmbeddedLog> {
    let dir = &config.store.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    EmbeddedLog::open(dir).map_err(|error| {
        let locked = error.to_string().to_ascii_lowercase().contains("lock");
        let error = anyhow::Error::from(error);
        if locked {
            // RocksDB holds a lock file: name the likely cause instead of only the I/O error.
            error.context(format!(
                "another yujing process is writing {}; one process writes a store at a time (clues and deadletter can read alongside)",
                dir.display()
            ))
        } else {
            error
        }
    })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let config = load_config(&cli.global)?;
    // Every command starts only with a valid configuration, including a party-key secret outside demo mode.
    let built = config.check()?;
    if built.demo {
        tracing::warn!(
            "demo mode: party keys use a public secret and protect nothing; use it on sample data only"
        );
    }
    match cli.command {
        Command::Validate => validate(&config, &built),
        Command::Ingest { feed, json, paths } => ingest(&config, &built, feed, json, &paths),
        Command::Clues { feed, latest } => clues(&config, feed, latest),
        Command::Deadletter { feed, json } => deadletter(&config, feed, json),
        Command::Warnings { json } => warnings(&config, json),
        Command::Replay { feeds, out } => replay(&built, &feeds, &out),
        Command::Test => rule_tests(&config),
        Command::Simulate {
            seed,
            out,
            disputes,
            start,
            days,
            estates_per_town,
        } => simulate(
            &built,
            yujing_sim::SimConfig {
                seed,
                disputes,
                start,
                days,
                estates_per_town,
            },
            &out,
        ),
        Command::Eval { truth, replay, json } => eval(&built, &truth, &replay, json),
        Command::Fit { truth, out } => fit(&built, &truth, out.as_deref()),
    }
}

fn validate(config: &EngineConfig, built: &Built) -> Result<()> {
    let rules = built.normalizer.rules();
    let resources: Vec<&str> = rules.resource_codes().collect();
    println!("configuration is valid");
    println!("  data dir:           {}", config.store.data_dir.display());
    println!(
        "  party-key secret:   {}",
        if built.demo {
            "DEMO (public; sample data only)"
        } else {
            "set"
        }
    );
    println!(
        "  towns:              {}",
        built.normalizer.gazetteer().towns().len()
    );
    println!(
        "  communities:        {}",
        built.normalizer.gazetteer().communities().len()
    );
    println!("  exchange resources: {}", resources.join(", "));
    Ok(())
}

fn ingest(
    config: &EngineConfig,
    built: &Built,
    feed: Option<FeedId>,
    json: bool,
    paths: &[PathBuf],
) -> Result<()> {
    let log = open_log(config)?;
    let clock = SystemClock;
    let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
    let bar = ProgressBar::hidden();
    let show_bar = std::io::stderr().is_terminal();
    let report = ingestor.ingest_paths(paths, feed, &mut |progress| {
        // A bar only for long ingests, and only when a person is watching.
        if show_bar && progress.total > 4 * 1024 * 1024 && bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(progress.total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        bar.set_position(progress.done);
    })?;
    bar.finish_and_clear();
    let (_, correlation) = correlate(&log, &built.correlate, &clock)?;
    tracing::info!(
        clues = correlation.consumed,
        links = correlation.links,
        merges = correlation.merges,
        warnings = correlation.warnings.len(),
        "correlated"
    );
    if report.files.is_empty() {
        // An empty drop directory is normal for a timer; say so, without failing.
        tracing::warn!(
            "no feed export files found (names must start with a feed id, e.g. police-20260611.csv)"
        );
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<28} {:<13} {:>7} {:>6} {:>8} {:>6} {:>11} {:>8}",
            "file", "feed", "records", "clues", "versions", "dupes", "not-dispute", "rejected"
        )?;
        for f in report.files.iter().chain(std::iter::once(&report.total)) {
            let feed = f.feed.map_or("".to_owned(), |f| f.to_string());
            let file = if f.file.is_empty() {
                "TOTAL"
            } else {
                f.file.as_str()
            };
            writeln!(
                out,
                "{:<28} {:<13} {:>7} {:>6} {:>8} {:>6} {:>11} {:>8}",
                file, feed, f.records, f.new_clues, f.new_versions, f.duplicates, f.not_disputes, f.rejected
            )?;
        }
        if !report.skipped.is_empty() {
            let names: Vec<&str> = report
                .skipped
                .iter()
                .map(|s| {
                    std::path::Path::new(s)
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or(s)
                })
                .collect();
            writeln!(
                out,
                "skipped {} file(s) not named after a feed: {}",
                names.len(),
                names.join(", ")
            )?;
        }
        if report.total.rejected > 0 {
            writeln!(out, "rejected records are listed by `yujing deadletter`")?;
        }
        if !correlation.warnings.is_empty() {
            writeln!(out, "\nnew warnings:")?;
            write_warning_table(&mut out, &correlation.warnings)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes `items` as JSON Lines.
fn write_json_lines<T: serde::Serialize>(out: &mut impl Write, items: &[T]) -> Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        writeln!(out)?;
    }
    Ok(())
}

fn clues(config: &EngineConfig, feed: Option<FeedId>, latest: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut selected = Vec::new();
    for_each_clue(&log, |clue| {
        if feed.is_none_or(|f| f == clue.feed) {
            selected.push(clue);
        }
    })?;
    if latest {
        // Each clue's last version, at the position of its first appearance.
        let mut position = std::collections::HashMap::new();
        let mut kept: Vec<yujing_model::Clue> = Vec::new();
        for clue in selected {
            match position.get(&clue.clue_id) {
                Some(&i) => kept[i] = clue,
                None => {
                    position.insert(clue.clue_id.clone(), kept.len());
                    kept.push(clue);
                }
            }
        }
        selected = kept;
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    write_json_lines(&mut out, &selected)?;
    out.flush()?;
    Ok(())
}

fn deadletter(config: &EngineConfig, feed: Option<FeedId>, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut letters = Vec::new();
    for_each_dead_letter(&log, |letter| {
        if feed.is_none_or(|f| f == letter.feed) {
            letters.push(letter);
        }
    })?;
    if json {
        write_json_lines(&mut out, &letters)?;
    } else {
        for letter in &letters {
            writeln!(
                out,
                "{:<12} {:<40} {:<17} {}",
                letter.feed.as_str(),
                letter.location.to_string(),
                letter.kind.as_str(),
                letter.reason
            )?;
        }
        writeln!(out, "{} rejected record(s)", letters.len())?;
    }
    out.flush()?;
    Ok(())
}

fn write_warning_table(out: &mut impl Write, warnings: &[Warning]) -> Result<()> {
    writeln!(
        out,
        "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} feeds",
        "warning", "level", "raised at (+08:00)", "cluster", "count", "rule"
    )?;
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).context("the +08:00 offset")?;
    for w in warnings {
        let feeds: Vec<&str> = w.feeds.iter().map(|f| f.as_str()).collect();
        writeln!(
            out,
            "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} {}",
            w.warning_id,
            w.level.as_str(),
            w.raised_at.with_timezone(&beijing).format("%Y-%m-%d %H:%M:%S"),
            w.cluster_id,
            w.occurrences,
            w.rule,
            feeds.join(",")
        )?;
    }
    Ok(())
}

fn warnings(config: &EngineConfig, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut all = Vec::new();
    for_each_warning(&log, |w| all.push(w))?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        write_json_lines(&mut out, &all)?;
    } else if all.is_empty() {
        writeln!(out, "no warnings")?;
    } else {
        write_warning_table(&mut out, &all)?;
    }
    out.flush()?;
    Ok(())
}

/// One line of `clusters.jsonl`.
#[derive(serde::Serialize)]
struct ClusterLine<'a> {
    feed: FeedId,
    source_id: &'a str,
    cluster_id: &'a str,
}

fn replay(built: &Built, feeds: &std::path::Path, out_dir: &std::path::Path) -> Result<()> {
    if !feeds.is_dir() {
        anyhow::bail!("--feeds {} is not a directory", feeds.display());
    }
    let store = out_dir.join("store");
    if store.exists() {
        if !EmbeddedLog::exists(&store) {
            anyhow::bail!(
                "{} exists and is not a yujing store; choose another --out",
                store.display()
            );
        }
        std::fs::remove_dir_all(&store)
            .with_context(|| format!("cannot remove the previous replay store {}", store.display()))?;
    }
    std::fs::create_dir_all(&store).with_context(|| format!("cannot create {}", store.display()))?;
    let log = EmbeddedLog::open(&store)?;
    let clock = SystemClock;
    let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
    let report = ingestor.ingest_paths(&[feeds.to_path_buf()], None, &mut |_| {})?;
    let (mut correlator, correlation) = correlate(&log, &built.correlate, &clock)?;

    let clusters_path = out_dir.join("clusters.jsonl");
    let mut clusters = BufWriter::new(
        std::fs::File::create(&clusters_path)
            .with_context(|| format!("cannot write {}", clusters_path.display()))?,
    );
    let assignments = correlator.assignments();
    for a in &assignments {
        serde_json::to_writer(
            &mut clusters,
            &ClusterLine {
                feed: a.feed,
                source_id: &a.source_id,
                cluster_id: &a.cluster_id,
            },
        )?;
        writeln!(clusters)?;
    }
    clusters.flush()?;
    // Every decision with the features that matched, for analysts tuning the scoring.
    let links_path = out_dir.join("links.jsonl");
    let mut links = BufWriter::new(
        std::fs::File::create(&links_path)
            .with_context(|| format!("cannot write {}", links_path.display()))?,
    );
    yujing_engine::read::for_each_entry(&log, yujing_engine::topics::LINKS, 0, |entry| {
        links
            .write_all(&entry.record.value)
            .and_then(|()| links.write_all(b"\n"))
            .map_err(|e| yujing_engine::ReadError::Decode {
                topic: yujing_engine::topics::LINKS.to_owned(),
                offset: entry.offset,
                reason: format!("writing {}: {e}", links_path.display()),
            })
    })?;
    links.flush()?;
    let warnings_path = out_dir.join("warnings.jsonl");
    let mut warnings = BufWriter::new(
        std::fs::File::create(&warnings_path)
            .with_context(|| format!("cannot write {}", warnings_path.display()))?,
    );
    write_json_lines(&mut warnings, &correlation.warnings)?;
    warnings.flush()?;

    let stats = correlator.stats();
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let orange = correlation
        .warnings
        .iter()
        .filter(|w| w.level == yujing_model::WarningLevel::Orange)
        .count();
    writeln!(
        out,
        "replayed {} records from {}: {} clues ({} versions), {} rejected, {} not disputes",
        report.total.records,
        feeds.display(),
        report.total.new_clues,
        report.total.new_versions,
        report.total.rejected,
        report.total.not_disputes
    )?;
    writeln!(
        out,
        "{} clusters ({} merges), {} warnings ({} orange, {} red)",
        stats.clusters,
        stats.merges,
        correlation.warnings.len(),
        orange,
        correlation.warnings.len() - orange
    )?;
    writeln!(
        out,
        "wrote {} and {}",
        clusters_path.display(),
        warnings_path.display()
    )?;
    out.flush()?;
    Ok(())
}

fn rule_tests(config: &EngineConfig) -> Result<()> {
    let outcomes = yujing_correlate::run_rule_tests(&config.correlate)?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut failed = 0;
    for o in &outcomes {
        if o.passed() {
            writeln!(out, "ok      {} / {}", o.rule, o.test)?;
        } else {
            failed += 1;
            writeln!(out, "FAILED  {} / {}", o.rule, o.test)?;
            for p in &o.problems {
                writeln!(out, "          {p}")?;
            }
        }
    }
    writeln!(
        out,
        "{} rule tests: {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failed,
        failed
    )?;
    out.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} rule test(s) failed");
    }
    Ok(())
}

fn simulate(built: &Built, config: yujing_sim::SimConfig, out_dir: &std::path::Path) -> Result<()> {
    if config.days < 60 {
        anyhow::bail!("--days must be at least 60 (reports of one dispute span weeks)");
    }
    if config.estates_per_town == 0 {
        anyhow::bail!("--estates-per-town must be at least 1");
    }
    let (seed, disputes) = (config.seed, config.disputes);
    let simulation = yujing_sim::simulate(&config, built.normalizer.gazetteer());
    simulation.write_to(out_dir, &built.correlate.rules, built.correlate.episode_gap_days)?;
    let expected = yujing_sim::truth_warnings(
        &simulation.records,
        &built.correlate.rules,
        built.correlate.episode_gap_days,
    );
    let orange = expected
        .iter()
        .filter(|w| w.level == yujing_model::WarningLevel::Orange)
        .count();
    println!(
        "simulated {disputes} disputes (seed {seed}): {} records in {} files, {} re-deliveries, {} noise records",
        simulation.records.len(),
        simulation.files.len(),
        simulation.redeliveries,
        simulation.noise.len()
    );
    println!(
        "the rules should raise {} warnings ({} orange, {} red)",
        expected.len(),
        orange,
        expected.len() - orange
    );
    println!(
        "wrote {}/feeds and {}/truth; next: yujing replay --feeds {}/feeds --out REPLAY && yujing eval --truth {} --replay REPLAY",
        out_dir.display(),
        out_dir.display(),
        out_dir.display(),
        out_dir.display()
    );
    Ok(())
}

fn eval(built: &Built, truth_dir: &std::path::Path, replay_dir: &std::path::Path, json: bool) -> Result<()> {
    let records: Vec<yujing_sim::TruthRecord> =
        yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let expected =
        yujing_sim::truth_warnings(&records, &built.correlate.rules, built.correlate.episode_gap_days);
    let clusters: Vec<yujing_sim::ClusterLine> =
        yujing_sim::read_json_lines(&replay_dir.join("clusters.jsonl"))?;
    let warnings: Vec<yujing_sim::WarningLine> =
        yujing_sim::read_json_lines(&replay_dir.join("warnings.jsonl"))?;
    let report = yujing_sim::evaluate(
        &records,
        &expected,
        &clusters,
        &warnings,
        built.correlate.episode_gap_days,
    );
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "records: {} in truth ({} disputes), {} clustered, {} missing, {} unexpected; {} clusters",
            report.truth_records,
            report.truth_disputes,
            report.clustered_records,
            report.missing_records,
            report.unexpected_records,
            report.clusters
        )?;
        writeln!(
            out,
            "{:<10} {:>9} {:>9} {:>9}",
            "clusters", "precision", "recall", "F1"
        )?;
        for (name, prf) in [("pairwise", report.pairwise), ("B-cubed", report.bcubed)] {
            writeln!(
                out,
                "{:<10} {:>9.4} {:>9.4} {:>9.4}",
                name, prf.precision, prf.recall, prf.f1
            )?;
        }
        writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8}",
            "warnings",
            "expected",
            "raised",
            "matched",
            "dups",
            "precision",
            "recall",
            "lag p50",
            "lag p95",
            "on time"
        )?;
        for (level, s) in &report.warnings {
            writeln!(
                out,
                "{:<10} {:>8} {:>8} {:>8} {:>5} {:>9.4} {:>9.4} {:>7.1}h {:>7.1}h {:>8}",
                level.as_str(),
                s.expected,
                s.raised,
                s.matched,
                s.duplicates,
                s.precision,
                s.recall,
                s.lag_hours.p50,
                s.lag_hours.p95,
                s.lag_hours.on_time
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn fit(built: &Built, truth_dir: &std::path::Path, out: Option<&std::path::Path>) -> Result<()> {
    let records: Vec<yujing_sim::TruthRecord> =
        yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let dispute_of: std::collections::HashMap<String, String> = records
        .iter()
        .map(|r| (format!("{}:{}", r.feed, r.source_id), r.dispute_id.clone()))
        .collect();
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let log = EmbeddedLog::open(scratch.path())?;
    let clock = SystemClock;
    Ingestor::new(&log, &built.normalizer, &clock).ingest_paths(
        &[truth_dir.join("feeds")],
        None,
        &mut |_| {},
    )?;
    let mut correlator = yujing_correlate::Correlator::new(built.correlate.clone());
    correlator.record_pairs();
    let mut pairs = Vec::new();
    // Blocking recall: of the clues whose dispute was reported before, how many had such a report among
    // their candidates.
    let mut seen_disputes = std::collections::HashSet::new();
    let (mut repeats, mut repeats_found) = (0usize, 0usize);
    for clue in yujing_engine::clues_in_event_time(&log)? {
        let before = correlator.stats().clues;
        correlator.observe(&clue);
        let observed = correlator.stats().clues > before;
        let dispute = dispute_of.get(&clue.clue_id);
        let mut found = false;
        for pair in correlator.take_pairs() {
            // Pairs of clues outside the truth (noise) are not labeled, so not used.
            if let (Some(a), Some(b)) = (
                dispute_of.get(&pair.clue_id),
                dispute_of.get(&pair.member_clue_id),
            ) {
                found |= a == b;
                pairs.push((pair.comparison, a == b));
            }
        }
        if let (true, Some(d)) = (observed, dispute) {
            if !seen_disputes.insert(d.clone()) {
                repeats += 1;
                repeats_found += usize::from(found);
            }
        }
    }
    let report = yujing_sim::fit_weights(&pairs);
    let toml = report.to_toml();
    if let Some(path) = out {
        std::fs::write(path, &toml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let stdout = std::io::stdout();
    let mut stdout = BufWriter::new(stdout.lock());
    writeln!(
        stdout,
        "# {} candidate pairs: {} of one dispute, {} of different ones; pair F1 {:.4} at the threshold",
        report.matches + report.non_matches,
        report.matches,
        report.non_matches,
        report.pair_f1
    )?;
    writeln!(
        stdout,
        "# blocking recall: {repeats_found} of {repeats} repeat reports had an earlier report of their dispute among their candidates ({:.4})",
        repeats_found as f64 / repeats.max(1) as f64
    )?;
    writeln!(stdout, "# {:<28} {:>8} {:>8} {:>7}", "level", "m", "u", "weight")?;
    for l in &report.levels {
        writeln!(
            stdout,
            "# {:<28} {:>8.5} {:>8.5} {:>7.2}",
            l.level, l.m, l.u, l.weight
        )?;
    }
    write!(stdout, "{toml}")?;
    stdout.flush()?;
    Ok(())
}
