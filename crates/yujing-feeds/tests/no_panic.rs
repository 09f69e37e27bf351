//! No input makes yujing panic: every prefix of every sample (a file cut at every byte), and seeded random byte
//! mutations of each, are decoded and normalized. The test passes when all of them return, whatever they return.

mod support;

use std::path::Path;

use yujing_feeds::{adapters, detached_pointer, Normalizer, Outcome};

fn normalizer() -> Normalizer {
    support::normalizer(b"no-panic-test-secret-0123")
}

fn run(normalizer: &Normalizer, path: &Path, bytes: &[u8]) {
    let feed = adapters::detect_feed(path).expect("fixture names start with their feed");
    let decoded = adapters::decode(feed, "fuzz", bytes, normalizer.rules());
    for record in &decoded.records {
        if let Outcome::Record(source) = &record.outcome {
            let _ = normalizer.normalize(source, 1, detached_pointer(feed, record.location.clone()));
        }
    }
}

/// A small deterministic generator (xorshift64*), so every run mutates the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn truncated_and_mutated_samples_never_panic() {
    let normalizer = normalizer();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.to_string_lossy().ends_with(".golden.json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 13);
    let mut rng = Rng(0x5EED_2026_0611);
    // Bytes that matter to the formats: quotes, separators, brackets, newlines, multi-byte lead bytes.
    let interesting = b"\"\\,;:{}[]<>/&\r\n\x00\xff\xe4\x81 0123456789-";
    for path in files {
        let bytes = std::fs::read(&path).expect("fixture readable");
        for cut in 0..bytes.len() {
            run(&normalizer, &path, &bytes[..cut]);
        }
        for _ in 0..1_000 {
            let mut mutated = bytes.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % mutated.len();
                mutated[at] = interesting[(rng.next() as usize) % interesting.len()];
            }
            run(&normalizer, &path, &mutated);
        }
    }
}
