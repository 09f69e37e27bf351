//! Inputs shared by the benchmarks.

// Each benchmark is a crate of its own and uses a part of these.
#![allow(dead_code)]

/// A hotline export of `records` work orders: the sample lines repeated, each with a distinct work-order number
/// so that every record is new to the store.
pub fn hotline_export(records: usize) -> Vec<u8> {
    let sample = include_str!("../docs/feeds/hotline12345.sample.jsonl");
    let lines: Vec<&str> = sample.lines().collect();
    let mut out = String::new();
    for i in 0..records {
        let line = lines[i % lines.len()];
        out.push_str(&line.replacen("\"gdbh\":\"RG", &format!("\"gdbh\":\"B{i:07}RG"), 1));
        out.push('\n');
    }
    out.into_bytes()
}

/// The feed of an export file named `<feed>-<period>.<ext>`, as `yujing simulate` writes them.
pub fn feed_of_file(name: &str) -> Option<yujing_model::FeedId> {
    name.split('-').next()?.parse().ok()
}
