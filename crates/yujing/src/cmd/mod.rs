//! One module per command: each parses nothing (clap did), calls the library and prints what it returns.

use std::fmt::Display;
use std::io::{BufWriter, Write};

use anyhow::Result;

pub(crate) mod clues;
pub(crate) mod deadletter;
pub(crate) mod erase;
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

/// Prints `items` as JSON Lines when `json`, else `table` (for people).
pub(crate) fn print_lines_or<T: serde::Serialize>(
    json: bool,
    items: &[T],
    table: impl Display,
) -> Result<()> {
    if json {
        return print_json_lines(items);
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    write!(out, "{table}")?;
    out.flush()?;
    Ok(())
}

/// Prints `items` as JSON Lines.
pub(crate) fn print_json_lines<T: serde::Serialize>(items: &[T]) -> Result<()> {
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

/// Prints `value` as pretty JSON when `json`, else as it displays itself.
pub(crate) fn print_json_or<T: serde::Serialize + Display>(json: bool, value: &T) -> Result<()> {
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
    } else {
        write!(out, "{value}")?;
    }
    out.flush()?;
    Ok(())
}
