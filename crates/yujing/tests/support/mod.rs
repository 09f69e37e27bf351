//! Helpers shared by the integration tests of the `yujing` binary: paths, running the binary in demo mode,
//! `yujing run` as a server, and plain HTTP/1.1 requests to it.

// Each test file is a crate of its own and uses a part of these.
#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The repository's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The six upstream samples (`docs/feeds`).
pub fn samples() -> PathBuf {
    workspace().join("docs/feeds")
}

/// The sample files, in the order the seed case's reports arrive.
pub const SAMPLE_FILES: [&str; 6] = [
    "hotline12345.sample.jsonl",
    "grid.sample.jsonl",
    "police.sample.csv",
    "screening.sample.csv",
    "justice.sample.xml",
    "exchange.sample.jsonl",
];

/// `yujing --data-dir DIR --demo [--config FILE] ARGS…`.
pub fn demo(data_dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yujing"));
    command.arg("--data-dir").arg(data_dir).arg("--demo");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("yujing runs")
}

/// The standard output of a run that must succeed (its output is shown when it did not).
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "yujing failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Spawns `yujing --demo [--config FILE] run --listen 127.0.0.1:0` on `data_dir`, its standard output piped
/// (its first line says where it listens, once it serves).
pub fn spawn_run(data_dir: &Path, config: Option<&Path>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yujing"));
    command.arg("--data-dir").arg(data_dir).arg("--demo");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(["run", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("yujing runs")
}

/// [`spawn_run`], waiting until it serves; returns the process and the address it listens on.
pub fn serve(data_dir: &Path, config: Option<&Path>) -> (Child, String) {
    let mut child = spawn_run(data_dir, config);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    (child, addr)
}

/// One HTTP/1.1 request over a plain socket, with `token` as bearer; the status and the body, or `None` when
/// the server cannot be reached or hangs up (a test may kill it).
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Option<(u16, String)> {
    try_http_with(addr, method, path, token, &[], body)
}

/// [`try_http`] with extra headers.
pub fn try_http_with(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    let mut auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    for (name, value) in headers {
        auth.push_str(&format!("{name}: {value}\r\n"));
    }
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// [`try_http_with`] to a server that must answer.
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    try_http_with(addr, method, path, token, headers, body)
        .unwrap_or_else(|| panic!("no answer to {method} {path}"))
}

/// [`try_http`] to a server that must answer.
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    http_with(addr, method, path, token, &[], body)
}

/// POSTs the sample file `name` to `/api/v1/ingest/<feed>` with the demo centre's token; the status, or `None`
/// when the server did not answer.
pub fn post_sample(addr: &str, name: &str) -> Option<u16> {
    let feed = name.split('.').next().expect("feed");
    let body = std::fs::read(samples().join(name)).expect("sample");
    try_http(
        addr,
        "POST",
        &format!("/api/v1/ingest/{feed}?file={name}"),
        Some("demo-centre"),
        &body,
    )
    .map(|(status, _)| status)
}

/// A child process killed and reaped when dropped, so a failing test leaves no `yujing run` behind.
pub struct Reaped(pub Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
