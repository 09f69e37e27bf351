//! `yujing`: the command-line front of the early-warning engine.
//!
//! Subcommands: `ingest` export files onto the log (and correlate them, opening work orders), `run` the HTTP
//! server alongside the pipeline, `clues`, `deadletter`, `warnings` and `orders` read it back, `replay` runs the pipeline over a folder of history in event-time order, `test` runs the rules'
//! test cases, `simulate` and `eval` generate labeled data and score the result, `validate` checks the
//! configuration. Every subcommand has `--help`; `--data-dir` chooses the store, `--config` adds a file over the
//! built-in configuration, `--demo` runs on sample data without a secret.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use yujing_engine::{Built, ConfigError, EngineConfig};
use yujing_log::Log;
use yujing_model::FeedId;
use yujing_server::ServerConfig;

mod cmd;

/// jemalloc rather than glibc's malloc: why in docs/ARCHITECTURE.md ("Allocator: jemalloc").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use cmd::clues::clues;
use cmd::deadletter::deadletter;
use cmd::erase::erase;
use cmd::eval::eval;
use cmd::explain::explain;
use cmd::fit::fit;
use cmd::ingest::ingest;
use cmd::orders::orders;
use cmd::replay::replay;
use cmd::run::serve;
use cmd::simulate::simulate;
use cmd::store::store;
use cmd::test::rule_tests;
use cmd::tune::tune;
use cmd::validate::validate;
use cmd::vocab::vocab;
use cmd::warnings::warnings;
use cmd::webhook::webhook;

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
enum WebhookAction {
    /// List each configured webhook's refused entries (a 4xx other than 408/409/429): offset, event, status,
    /// when. Works beside `yujing run`.
    Refused {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask for webhook NAME's refused entries to be sent again, before its next new ones. Needs the store's
    /// writer (the next `yujing run` sends them); beside a running server use POST /api/v1/webhooks/NAME/retry.
    Retry {
        /// The webhook's name in [[server.webhooks]].
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum StoreAction {
    /// Read every record of every topic back: each topic dense from 0 to its end, every block's checksum
    /// verified, every raw unit opened under the deployment's secret (or found erased). Prints each topic's
    /// count; fails naming the first problem. Works beside `yujing run`.
    Check,
    /// Write a consistent copy of the store to DIR (a RocksDB checkpoint). Restore by stopping yujing and
    /// pointing `--data-dir` (or `store.data_dir`) at the copy. Needs the store's writer: stop `yujing run`.
    Backup {
        /// Where to write the copy (must not exist).
        dir: PathBuf,
    },
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
    /// List the category words no table maps (their records' type was inferred), with counts, an example and
    /// the suggested type, and the configuration lines that would map them.
    Vocab {
        /// Only words of this feed.
        #[arg(long)]
        feed: Option<FeedId>,
        /// Print JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The entries a webhook's receiver refused for good, and sending them again.
    Webhook {
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Erase people (PIPL art. 47): every raw unit that names one of them becomes unreadable for good.
    ///
    /// Raw units are sealed at rest under one key per person (their phone, ID number, account or full name);
    /// erasing deletes those keys (crypto-shredding) and logs the erasure on the `erasures` topic. Clues keep
    /// only masked values and keyed hashes. Name each person by the values (hashed with the deployment's secret,
    /// never kept) or by the party keys yujing shows. Needs the store's writer: beside a running `yujing run`,
    /// POST /api/v1/erasures with a centre token instead.
    Erase(cmd::erase::EraseArgs),
    /// Check or back up the embedded store.
    Store {
        #[command(subcommand)]
        action: StoreAction,
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
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "from_log",
            conflicts_with = "from_log"
        )]
        feeds: Option<PathBuf>,
        /// Replay the clues of the stored log instead (the configured store: embedded, or Kafka), which is
        /// only read; with --since/--until and --from-offset/--to-offset, only that part of it.
        #[arg(long)]
        from_log: bool,
        #[command(flatten)]
        range: LogRangeArgs,
        /// Where to write the store and the files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Run the test cases the warning rules declare ([[correlate.rules.tests]]).
    Test,
    /// Explain how one clue compared with its candidates when it was correlated: score, anchor and every
    /// feature's level, best first. Replays the store's clues in event-time order up to it.
    Explain {
        /// The clue id, `<feed>:<source id>` (as in clusters.jsonl, joined by a colon).
        #[arg(value_name = "CLUE_ID")]
        clue_id: String,
        /// How many candidates to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Write labeled synthetic data: export files of the six feeds in OUT/feeds, the truth in OUT/truth.
    Simulate(cmd::simulate::SimulateArgs),
    /// Estimate the scoring weights (log2 odds per feature level, fitted jointly) from labeled data.
    ///
    /// Ingests the simulation's (or any labeled folder's) export files into a scratch store, correlates them
    /// in event-time order while keeping every candidate pair compared, labels each pair from the truth, fits
    /// every level's weight jointly by logistic regression (m, u and log2(m/u) printed beside it), and prints
    /// the [correlate.scoring] table to put in a configuration file.
    Fit {
        /// The labeled directory: export files in DIR/feeds, truth in DIR/truth/records.jsonl.
        #[arg(long, value_name = "DIR")]
        truth: PathBuf,
        /// Also write the table to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Features not to fit but to hold at the configuration's weights, the others fitted around them
        /// (comma-separated: `description,mention`): those the labeled data cannot speak for.
        #[arg(long, value_name = "FEATURES", value_delimiter = ',')]
        hold: Vec<String>,
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
    /// Sweep rule and scoring parameters over one history: what each configuration would have raised, how well
    /// (against a simulation's truth, or the stored log's past work orders) and how early, against the one in
    /// force. Writes OUT/report.md, OUT/report.html (plots, no external assets) and OUT/results.json.
    Tune {
        /// A simulation's directory (`yujing simulate --out`): its exports are the history, its truth the outcomes.
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "from_log",
            conflicts_with = "from_log"
        )]
        truth: Option<PathBuf>,
        /// The stored log's clues as the history (copied into OUT/store; the log is only read), its work
        /// orders as the outcomes; with --since/--until and --from-offset/--to-offset, only that part of it.
        #[arg(long)]
        from_log: bool,
        #[command(flatten)]
        range: LogRangeArgs,
        /// The grid: a TOML file with a [grid] table of parameter = [values] (`"rules.recurring-orange.occurrences"
        /// = [4, 5]`, `"scoring.link_threshold" = [8.0, 9.0]`).
        #[arg(long, value_name = "FILE")]
        grid: PathBuf,
        /// Where to write the report.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Serve the HTTP API, the SSE feed and webhook delivery alongside the pipeline, until Ctrl-C or SIGTERM.
    ///
    /// Accepts ingestion over HTTP (POST /api/v1/ingest/{feed}?file=NAME with an export's bytes) and from a
    /// polled drop directory (--watch); runs supervision on a timer. The API is described in schemas/openapi.json.
    Run {
        /// The address to listen on (overrides server.listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// A drop directory to poll for export files (overrides server.watch_dir).
        #[arg(long, value_name = "DIR")]
        watch: Option<PathBuf>,
    },
    /// List the work orders and where they stand; with an id, its audit trail.
    Orders {
        /// One order's events.
        #[arg(value_name = "ORDER_ID")]
        order_id: Option<String>,
        /// Print JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// A part of the stored log's clues, for `replay --from-log` and `tune --from-log`.
#[derive(Debug, Clone, Copy, Args)]
struct LogRangeArgs {
    /// With --from-log: the first event time to replay (2026-06-01, or 2026-06-01T08:00:00+08:00).
    #[arg(long, value_name = "TIME", requires = "from_log", value_parser = parse_time)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// With --from-log: replay event times before this one (same forms as --since).
    #[arg(long, value_name = "TIME", requires = "from_log", value_parser = parse_time)]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// With --from-log: the first offset of the clues topic to replay (a Kafka offset of `<prefix>clues`, as
    /// Kafka's tools show it; on the embedded log, the number of clue versions written before it).
    #[arg(long, value_name = "OFFSET", requires = "from_log")]
    from_offset: Option<u64>,
    /// With --from-log: the offset of the clues topic to stop before.
    #[arg(long, value_name = "OFFSET", requires = "from_log")]
    to_offset: Option<u64>,
}

impl LogRangeArgs {
    fn range(&self, config: &EngineConfig) -> Result<yujing_engine::ClueRange> {
        let shards = config.store.kafka.partitions;
        if config.store.sharded() && (self.from_offset.is_some() || self.to_offset.is_some()) {
            anyhow::bail!(
                "--from-offset and --to-offset name a record within one partition, and this store is split into \
                 {shards} shards (partitions): choose the history by event time with --since and --until"
            );
        }
        Ok(yujing_engine::ClueRange {
            from_offset: self.from_offset,
            to_offset: self.to_offset,
            since: self.since,
            until: self.until,
        })
    }
}

/// A time on the command line: a date (00:00 in China, +08:00) or an RFC 3339 time.
fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    yujing_feeds::time::parse_local(text)
        .map_err(|e| format!("'{text}' is neither a date (2026-06-01) nor an RFC 3339 time ({e})"))
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
    // A panic's message may quote the input it failed on (a phone or ID number in a record): the default hook
    // would print it in clear. Panics in decoding and normalizing are caught and become dead letters; this
    // hook is what reaches the log, redacted.
    std::panic::set_hook(Box::new(|info| {
        let message = yujing_feeds::pii::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(at = %at, "panic: {message}");
    }));
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

/// Opens the store for reading: works while an ingest or `yujing run` is writing it.
pub(crate) fn open_log_for_reading(config: &EngineConfig) -> Result<Arc<dyn Log>> {
    Ok(yujing_engine::store::open_for_reading(&config.store)?)
}

/// Opens the store for writing (one writer at a time).
pub(crate) fn open_log(config: &EngineConfig) -> Result<Arc<dyn Log>> {
    Ok(yujing_engine::store::open(&config.store)?)
}

fn main() -> std::process::ExitCode {
    // Everything yujing writes (the store, backups, replay outputs, reports) holds personal data or is derived
    // from it: only the user the service runs as may read it, whatever the shell's umask.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
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

/// The configuration of `global`, checked: every command starts only with a valid one, including a party-key
/// secret outside demo mode. The engine's sections and `[server]` are checked together, every error reported.
fn checked_config(global: &Global) -> Result<(EngineConfig, Built, ServerConfig)> {
    let config = load_config(global)?;
    let (built, server) = match (config.check(), ServerConfig::from_engine(&config)) {
        (Ok(built), Ok(server)) => (built, server),
        (built, server) => {
            let errors = [built.err(), server.err()]
                .into_iter()
                .flatten()
                .flat_map(|e| e.0);
            return Err(ConfigError(errors.collect()).into());
        }
    };
    if built.demo {
        tracing::warn!(
            "demo mode: party keys use a public secret and protect nothing; use it on sample data only"
        );
    }
    Ok((config, built, server))
}

fn run(cli: Cli) -> Result<()> {
    let (config, built, server) = checked_config(&cli.global)?;
    match cli.command {
        Command::Validate => validate(&config, &built, &server),
        Command::Tune {
            truth,
            from_log,
            range,
            grid,
            out,
        } => {
            let range = range.range(&config)?;
            let history = truth.as_deref().filter(|_| !from_log);
            tune(&config, &built, history, range, &grid, &out)
        }
        Command::Run { listen, watch } => serve(&config, &built, server, listen, watch),
        Command::Orders { order_id, json } => orders(&config, &built, order_id.as_deref(), json),
        Command::Ingest { feed, json, paths } => ingest(&config, &built, feed, json, &paths),
        Command::Clues { feed, latest } => clues(&config, feed, latest),
        Command::Deadletter { feed, json } => deadletter(&config, feed, json),
        Command::Vocab { feed, json } => vocab(&config, feed, json),
        Command::Warnings { json } => warnings(&config, json),
        Command::Store { action } => store(&config, &built, action),
        Command::Erase(args) => erase(&config, &built, args),
        Command::Webhook { action } => webhook(&config, &server, action),
        Command::Replay {
            feeds,
            from_log,
            range,
            out,
        } => {
            let feeds = feeds.as_deref().filter(|_| !from_log);
            replay(&config, &built, feeds, range.range(&config)?, &out)
        }
        Command::Test => rule_tests(&config),
        Command::Explain { clue_id, top } => explain(&config, &built, &clue_id, top),
        Command::Simulate(args) => simulate(&built, args),
        Command::Eval { truth, replay, json } => eval(&built, &truth, &replay, json),
        Command::Fit { truth, out, hold } => fit(&built, &truth, out.as_deref(), &hold),
    }
}
