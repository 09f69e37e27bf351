//! Labeled synthetic data for yujing, and the scoring of a replay against it.
//!
//! # Layout
//! - [`simulate`] (`generate`): a seeded generator of disputes and their reports through the six feeds, written
//!   in the feeds' real formats and encodings ([`Simulation::files`]): name variants (张先生, a homophone
//!   character, anonymous), address variants (abbreviated, the estate's homophone spelling, the estate's phase),
//!   places only in the text as landmarks (`锦绣华庭附近`), callers known only by an app account id, category
//!   labels no table maps (one in five), paraphrased descriptions, bystanders reporting, re-deliveries (new status, a repeated exchange record), late weekly
//!   ledgers, confusable non-duplicates (different disputes at one estate, same-surname neighbours in a village),
//!   non-dispute records and malformed records.
//! - [`TruthRecord`] and [`truth_warnings`] (`truth`): the dispute of every valid record, and the warnings the
//!   rules would raise on the true disputes.
//! - [`fit_weights`] (`fit`): feature-level weights (log2 odds) fitted jointly by logistic regression on labeled
//!   candidate pairs (with each level's m, u and log2(m/u)), and the link threshold that best separates them.
//! - [`evaluate`] (`eval`): pairwise and B-cubed precision, recall and F1 of `clusters.jsonl`, and per level the
//!   precision, recall, duplicates and lag of `warnings.jsonl`.
//!
//! The same seed gives the same files, byte for byte.

mod eval;
mod fit;
mod formats;
mod generate;
mod truth;
mod vocab;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

pub use eval::{
    agree_clusters, evaluate, score_warnings, ClusterAgreement, ClusterLine, ClusterScores, EvalReport,
    LagStats, LevelScore, Prf, WarningLine,
};
pub use fit::{fit_weights, FitReport, LevelEstimate};
pub use generate::{simulate, SimConfig, Simulation};
pub use truth::{truth_warnings, TruthRecord, TruthWarning};

/// A file of a simulation or a replay that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line does not decode.
    #[error("{path}:{line}: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// What to simulate makes no sense.
    #[error("{0}")]
    Invalid(&'static str),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `items` as JSON Lines to `path`.
pub fn write_json_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<(), SimError> {
    let file = std::fs::File::create(path).map_err(io(path))?;
    let mut out = std::io::BufWriter::new(file);
    for item in items {
        let line = serde_json::to_string(item).map_err(|e| SimError::Decode {
            path: path.to_path_buf(),
            line: 0,
            reason: e.to_string(),
        })?;
        writeln!(out, "{line}").map_err(io(path))?;
    }
    out.flush().map_err(io(path))
}

/// `yujing eval`: scores the replay in `replay_dir` (`clusters.jsonl`, `warnings.jsonl`) against the truth of
/// the simulation in `truth_dir`. The expected warnings are recomputed from the truth with `rules`, so a rule
/// change is scored against what it should raise.
pub fn evaluate_replay(
    truth_dir: &Path,
    replay_dir: &Path,
    rules: &[yujing_correlate::Rule],
    episode_gap_days: u32,
) -> Result<EvalReport, SimError> {
    let records: Vec<TruthRecord> = read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let expected = truth_warnings(&records, rules, episode_gap_days);
    let clusters: Vec<ClusterLine> = read_json_lines(&replay_dir.join("clusters.jsonl"))?;
    let warnings: Vec<WarningLine> = read_json_lines(&replay_dir.join("warnings.jsonl"))?;
    Ok(evaluate(
        &records,
        &expected,
        &clusters,
        &warnings,
        episode_gap_days,
    ))
}

/// Reads JSON Lines from `path`; every bad line is an error naming it.
pub fn read_json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, SimError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| SimError::Decode {
            path: path.to_path_buf(),
            line: i + 1,
            reason: e.to_string(),
        })?);
    }
    Ok(out)
}

impl SimConfig {
    /// Refuses what cannot be simulated: a period shorter than a dispute's reports span, no estates. The
    /// messages name the options of `yujing simulate`, which sets these fields.
    pub fn check(&self) -> Result<(), SimError> {
        if self.days < 60 {
            return Err(SimError::Invalid(
                "--days must be at least 60 (reports of one dispute span weeks)",
            ));
        }
        if self.estates_per_town == 0 {
            return Err(SimError::Invalid("--estates-per-town must be at least 1"));
        }
        Ok(())
    }
}

impl Simulation {
    /// Write the export files to `dir/feeds/` and the truth to `dir/truth/records.jsonl` and
    /// `dir/truth/warnings.jsonl` (the warnings `rules` raise on the true disputes).
    pub fn write_to(
        &self,
        dir: &Path,
        rules: &[yujing_correlate::Rule],
        episode_gap_days: u32,
    ) -> Result<Written, SimError> {
        let feeds = dir.join("feeds");
        let truth = dir.join("truth");
        for d in [&feeds, &truth] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        for (name, bytes) in &self.files {
            let path = feeds.join(name);
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        write_json_lines(&truth.join("records.jsonl"), &self.records)?;
        let warnings = truth_warnings(&self.records, rules, episode_gap_days);
        write_json_lines(&truth.join("warnings.jsonl"), &warnings)?;
        let orange = warnings
            .iter()
            .filter(|w| w.level == yujing_model::WarningLevel::Orange)
            .count();
        Ok(Written {
            seed: self.seed,
            disputes: self.disputes,
            records: self.records.len(),
            files: self.files.len(),
            redeliveries: self.redeliveries,
            noise: self.noise.len(),
            orange,
            red: warnings.len() - orange,
            dir: dir.to_path_buf(),
        })
    }
}

/// What [`Simulation::write_to`] wrote, for `yujing simulate` to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The seed.
    pub seed: u64,
    /// Disputes simulated.
    pub disputes: usize,
    /// Valid dispute records.
    pub records: usize,
    /// Export files.
    pub files: usize,
    /// Re-deliveries among the records.
    pub redeliveries: usize,
    /// Malformed or non-dispute records.
    pub noise: usize,
    /// Orange warnings the rules should raise on the truth.
    pub orange: usize,
    /// Red ones.
    pub red: usize,
    /// Where.
    pub dir: PathBuf,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "simulated {} disputes (seed {}): {} records in {} files, {} re-deliveries, {} noise records",
            self.disputes, self.seed, self.records, self.files, self.redeliveries, self.noise
        )?;
        writeln!(
            f,
            "the rules should raise {} warnings ({} orange, {} red)",
            self.orange + self.red,
            self.orange,
            self.red
        )?;
        let dir = self.dir.display();
        writeln!(
            f,
            "wrote {dir}/feeds and {dir}/truth; next: yujing replay --feeds {dir}/feeds --out REPLAY && yujing eval --truth {dir} --replay REPLAY"
        )
    }
}
