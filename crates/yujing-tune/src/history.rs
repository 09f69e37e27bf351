//! The history a sweep runs over, decoded once: a simulation's export files (into a scratch store beside the
//! report, with the simulation's truth), or the clues of a stored log in a range (the log is only read; its
//! work orders are the outcomes). The clues are not held decoded: a history is their offsets in event-time
//! order, and each clustering reads them back from the log a chunk at a time (a million decoded clues are
//! gigabytes, beside a correlator that holds as much).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use yujing_correlate::{Correlator, ProfileDraft, TopicLexicon};
use yujing_engine::{clue_offsets_in_range, read_at, Built, ClueRange, Ingestor, SystemClock};
use yujing_log::{Log, Offset};
use yujing_model::Clue;
use yujing_sim::TruthRecord;

use crate::TuneError;

/// Where a sweep reads its history and outcomes.
#[derive(Clone)]
pub enum TuneInput<'a> {
    /// A simulation's directory (`feeds/`, `truth/records.jsonl`).
    Simulation(&'a Path),
    /// A stored log's clues in a range, with its work orders as outcomes.
    StoredLog {
        /// The stored log, opened for reading.
        log: Arc<dyn Log>,
        /// The clues to sweep over.
        range: ClueRange,
        /// How the report names the log (its directory, or the Kafka cluster).
        name: String,
    },
}

/// The clues a chunk of the history reads back at once: large enough that a run of consecutive offsets is one
/// read, small enough to be a few megabytes decoded.
const CHUNK: usize = 4096;

/// From this many clues the reading thread also prepares each clue for its decision
/// ([`Correlator::hand_off_blocking`]; below it, the correlator's copy of its places table would not be repaid).
const HAND_OFF_FROM: usize = 4096;

/// The history: where its clues are, in event-time order, and its outcomes.
pub struct History {
    /// Every clue version's offset on `log`'s `clues`, in event-time order.
    pub clue_offsets: Vec<Offset>,
    /// The log the clues are on: the scratch store of a simulation, or the stored log.
    pub log: Arc<dyn Log>,
    /// The simulation's truth, when the history is a simulation.
    pub truth: Option<Vec<TruthRecord>>,
    /// The stored log, when the history is one: its work orders are the outcomes.
    pub stored: Option<Arc<dyn Log>>,
    /// What the history is, for the report.
    pub source: String,
}

/// Decodes `input` once into a scratch store at `out_dir/store`: a simulation's files are ingested there, a
/// stored log's clues in the range copied there (one pass over the stored log; each clustering then reads the
/// copy, whose reads by offset are cheap on any backend).
pub fn load(input: TuneInput<'_>, built: &Built, out_dir: &Path) -> Result<History, TuneError> {
    let log = yujing_engine::store::scratch_store(out_dir).map_err(|e| match e {
        yujing_engine::store::ScratchError::NotAStore(path) => TuneError::NotAScratchStore(path),
        other => TuneError::Scratch(other),
    })?;
    match input {
        TuneInput::Simulation(dir) => {
            // Both cores: the scratch store's write buffers, kept by the writing thread's arena after the
            // load, are small beside the clustering that follows.
            Ingestor::new(&log, &built.normalizer, &SystemClock)
                .on_two_threads()
                .ingest_paths(&[dir.join("feeds")], None, &mut |_| {})?;
            let truth: Vec<TruthRecord> = yujing_sim::read_json_lines(&dir.join("truth/records.jsonl"))?;
            Ok(History {
                clue_offsets: clue_offsets_in_range(&log, &ClueRange::default())?,
                log: Arc::new(log),
                truth: Some(truth),
                stored: None,
                source: format!("simulation {}", dir.display()),
            })
        }
        TuneInput::StoredLog {
            log: stored,
            range,
            name,
        } => {
            yujing_engine::store::copy_clues(stored.as_ref(), &log, &range).map_err(TuneError::Scratch)?;
            Ok(History {
                clue_offsets: clue_offsets_in_range(&log, &ClueRange::default())?,
                log: Arc::new(log),
                truth: None,
                source: format!("the stored log ({name}){range}"),
                stored: Some(stored),
            })
        }
    }
}

impl crate::sweep::ClueSource for History {
    fn for_each_clue(&self, each: &mut dyn FnMut(&Clue)) -> Result<(), TuneError> {
        self.read_ahead(|_| (), &mut |clue, _| each(clue))
    }

    /// The chunks are read, decoded and their profiles drafted on a thread of their own, a chunk or two ahead
    /// of `each` (a bounded channel), so that work runs on the core correlation leaves idle.
    fn for_each_drafted(
        &self,
        lexicon: &TopicLexicon,
        each: &mut dyn FnMut(&Clue, &ProfileDraft),
    ) -> Result<(), TuneError> {
        self.read_ahead(|clue| ProfileDraft::of(clue, lexicon), &mut |clue, draft| {
            each(clue, draft)
        })
    }

    /// On a fresh correlator and a history of [`HAND_OFF_FROM`] clues or more, the reading thread also
    /// prepares each clue for its decision ([`Correlator::hand_off_blocking`]: interned, weighed, its
    /// candidates found, indexed), an id's first version only, and the correlator decides them here: the same
    /// decisions as observing each in turn, on both cores.
    fn observe_all(&self, correlator: &mut Correlator) -> Result<(), TuneError> {
        let lexicon = correlator.lexicon().clone();
        if self.clue_offsets.len() < HAND_OFF_FROM || correlator.stats().clues > 0 {
            return self.for_each_drafted(&lexicon, &mut |clue, draft| {
                correlator.observe_drafted(clue, draft);
            });
        }
        let mut ahead = correlator.hand_off_blocking();
        let mut seen: HashSet<String> = HashSet::with_capacity(self.clue_offsets.len());
        let observed = self.read_ahead(
            |clue| {
                seen.insert(clue.clue_id.clone())
                    .then(|| ahead.prepare(clue, &ProfileDraft::of(clue, &lexicon)))
            },
            &mut |clue, prepared: &mut Option<yujing_correlate::Prepared>| {
                if let Some(prepared) = prepared.take() {
                    correlator.observe_prepared(clue, prepared);
                }
            },
        );
        // After a failure the correlator is dropped with the sweep; blocking is given back only whole.
        if observed.is_ok() {
            correlator.take_back_blocking(ahead);
        }
        observed
    }

    fn len(&self) -> usize {
        self.clue_offsets.len()
    }
}

impl History {
    /// Calls `each` with every clue version and what `extra` makes of it, in order: the chunks are read and
    /// decoded, and `extra` run, on a thread of their own, a chunk or two ahead (a bounded channel).
    ///
    /// Each chunk goes back to that thread once used and is freed there: glibc frees a block into the arena of
    /// the thread that allocated it, under that arena's lock, so freeing the reader's clues and drafts here
    /// contended with every allocation the reader made (measured on the dense seed 7's sweep: its clustering
    /// 19.5–20.4 s with drafts freed here, against 16.1–18.5 s drafting nothing).
    fn read_ahead<T: Send>(
        &self,
        mut extra: impl FnMut(&Clue) -> T + Send,
        each: &mut dyn FnMut(&Clue, &mut T),
    ) -> Result<(), TuneError> {
        type Chunk<T> = Vec<(Clue, T)>;
        std::thread::scope(|scope| {
            let (chunks, decoded) = std::sync::mpsc::sync_channel::<Result<Chunk<T>, TuneError>>(2);
            let (give_back, used) = std::sync::mpsc::channel::<Chunk<T>>();
            let reader = scope.spawn(move || {
                for chunk in self.clue_offsets.chunks(CHUNK) {
                    let read = read_at(self.log.as_ref(), yujing_engine::topics::CLUES, chunk)
                        .map_err(TuneError::from)
                        .map(|clues| {
                            clues
                                .into_iter()
                                .map(|clue| {
                                    let made = extra(&clue);
                                    (clue, made)
                                })
                                .collect()
                        });
                    let failed = read.is_err();
                    // The receiver gone (`each` is done, or failed) ends the reading too.
                    if chunks.send(read).is_err() || failed {
                        break;
                    }
                    // What `each` is done with is freed here, where it was allocated.
                    used.try_iter().for_each(drop);
                }
                drop(chunks);
                used.iter().for_each(drop);
            });
            let mut outcome = Ok(());
            for read in decoded {
                match read {
                    Ok(mut chunk) => {
                        for (clue, made) in &mut chunk {
                            each(clue, made);
                        }
                        // The reader frees it; gone already (it failed), it is freed here.
                        let _ = give_back.send(chunk);
                    }
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
            // The receiver is gone with the loop (the reader stops at its next send); the reader frees what is
            // given back until this is gone too.
            drop(give_back);
            reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use yujing_engine::EngineConfig;

    use super::*;
    use crate::sweep::ClueSource;

    /// A history long enough that its clues are prepared on the reading thread is observed as each clue in
    /// turn: the same clusters and, after the lone clues' second chance, the same warnings.
    #[test]
    fn a_history_observed_on_both_cores_is_observed_as_each_clue_in_turn() {
        let mut config = EngineConfig::defaults();
        config.pii.demo = true;
        let built = config.check().expect("the defaults are valid");
        let dir = tempfile::tempdir().expect("temp dir");
        crate::testing::write_simulation(&built, 11, 1_800, dir.path());
        let history = load(
            TuneInput::Simulation(dir.path()),
            &built,
            &dir.path().join("scratch"),
        )
        .expect("loaded");
        assert!(history.len() >= HAND_OFF_FROM, "{} clues", history.len());

        let mut both_cores = Correlator::new(built.correlate.clone());
        history.observe_all(&mut both_cores).expect("observed");
        let mut in_turn = Correlator::new(built.correlate.clone());
        history
            .for_each_clue(&mut |clue| {
                in_turn.observe(clue);
            })
            .expect("observed");
        assert_eq!(both_cores.stats(), in_turn.stats());
        assert_eq!(both_cores.reconsider(), in_turn.reconsider());
        assert_eq!(both_cores.assignments(), in_turn.assignments());
        let warnings = both_cores.flush();
        assert!(!warnings.is_empty());
        assert_eq!(warnings, in_turn.flush());
    }
}
