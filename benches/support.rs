//! Inputs shared by the benchmarks.

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
