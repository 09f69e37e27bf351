//! A full disk, for real: the embedded log on a small tmpfs. Writes fail while it is full, and once space is
//! back the next write succeeds without a restart, the offsets dense after the last write that succeeded.
//!
//! Mounting a tmpfs needs root (CI runs as root on its machine); elsewhere set `YUJING_SKIP_ROOT_TESTS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use yujing_log::{Batch, EmbeddedLog, Log, Record};

/// A tmpfs of `megabytes` mounted at a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = parent.path().join("small");
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs { dir, _parent: parent }),
            _ if std::env::var_os("YUJING_SKIP_ROOT_TESTS").is_some() => None,
            other => panic!("cannot mount a tmpfs (root needed; YUJING_SKIP_ROOT_TESTS=1 skips): {other:?}"),
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// A batch of `n` records of 64 KiB each (incompressible, so the write-ahead log fills the disk).
fn batch(from: u64, n: u64) -> Batch {
    let mut batch = Batch::new();
    for i in from..from + n {
        let value: Vec<u8> = (0..65_536u64)
            .map(|j| (i.wrapping_mul(2_654_435_761) ^ j.wrapping_mul(40_503)) as u8)
            .collect();
        batch.append(
            "raw.hotline12345",
            Record {
                key: i.to_be_bytes().to_vec(),
                value,
                timestamp_ms: 1_780_000_000_000,
            },
        );
    }
    batch
}

#[test]
fn a_full_disk_fails_writes_and_the_log_writes_again_once_space_is_back() {
    let Some(disk) = Tmpfs::mount(24) else { return };
    let filler = disk.path().join("filler");
    // More than the write-ahead log can then grow to: opening the log again replays that log into a table
    // file, which needs about as much space again.
    std::fs::write(&filler, vec![0u8; 14 << 20]).unwrap_or_else(|e| panic!("{e}"));
    let log = EmbeddedLog::open(disk.path().join("store")).unwrap_or_else(|e| panic!("{e}"));
    let mut written = 0u64;
    let full = loop {
        match log.write(batch(written, 16)) {
            Ok(offsets) => {
                assert_eq!(offsets.first().copied(), Some(written));
                written += 16;
                assert!(written < 1_000, "24 MB never filled");
            }
            Err(error) => break error,
        }
    };
    assert!(format!("{full}: {full:?}").contains("No space left"), "{full:?}");
    // Still full: the next write fails too, saying so.
    assert!(log.write(batch(written, 1)).is_err());

    // Space is back (more than the write-ahead log holds): the next write succeeds, right after the last one that
    // did, without a restart.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    let offsets = log
        .write(batch(written, 1))
        .unwrap_or_else(|e| panic!("after space was freed: {e}: {e:?}"));
    assert_eq!(offsets, [written]);
    assert_eq!(log.end_offset("raw.hotline12345").ok(), Some(written + 1));
    let keys: Vec<u64> = (0..=written)
        .step_by(16)
        .flat_map(|from| {
            log.read("raw.hotline12345", from, 16)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .map(|e| u64::from_be_bytes(e.record.key.try_into().unwrap_or_default()))
        .collect();
    assert_eq!(
        keys,
        (0..=written).collect::<Vec<_>>(),
        "every acknowledged record, dense, nothing else"
    );
    drop(log);
    let reopened = EmbeddedLog::open(disk.path().join("store")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reopened.end_offset("raw.hotline12345").ok(), Some(written + 1));
    assert!(matches!(reopened.write(batch(written + 1, 1)), Ok(o) if o == [written + 1]));
}
