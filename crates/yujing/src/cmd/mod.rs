//! One module per command: each parses nothing (clap did) and prints what the command says.

pub(crate) mod clues;
pub(crate) mod deadletter;
pub(crate) mod eval;
pub(crate) mod explain;
pub(crate) mod fit;
pub(crate) mod ingest;
pub(crate) mod orders;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod simulate;
pub(crate) mod store;
pub(crate) mod test;
pub(crate) mod tune;
pub(crate) mod validate;
pub(crate) mod vocab;
pub(crate) mod warnings;
pub(crate) mod webhook;
