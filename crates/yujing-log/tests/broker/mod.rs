//! The Kafka broker of the integration tests, shared by yujing-log's and the `yujing` binary's Kafka tests
//! (the latter include this file by path).

// Not every test file uses every helper.
#![allow(dead_code)]

/// `.ci/kafka`, the script that fetches, starts, restarts and stops the test broker.
pub fn control_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/kafka")
}

/// The broker: `YUJING_KAFKA_BOOTSTRAP`, or one started by `.ci/kafka start` (once per test binary).
pub fn bootstrap() -> String {
    static BROKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BROKER
        .get_or_init(|| {
            if let Ok(bootstrap) = std::env::var("YUJING_KAFKA_BOOTSTRAP") {
                return bootstrap;
            }
            control(
                "start",
                "cannot start the test broker (bash .ci/setup installs java and maven)",
            )
        })
        .clone()
}

/// The address of the broker's SASL_PLAINTEXT listener (PLAIN, user `yujing`, password `yujing-ci-secret`):
/// `YUJING_KAFKA_SASL_BOOTSTRAP`, else the one `.ci/kafka` opens beside [`bootstrap`].
pub fn sasl_bootstrap() -> String {
    bootstrap();
    if let Ok(address) = std::env::var("YUJING_KAFKA_SASL_BOOTSTRAP") {
        return address;
    }
    control("sasl", "cannot ask .ci/kafka for its SASL listener")
}

/// The address of the broker's SSL listener and the CA certificate that signed its certificate:
/// `YUJING_KAFKA_TLS_BOOTSTRAP` and `YUJING_KAFKA_TLS_CA`, else the ones `.ci/kafka` opens and makes beside
/// [`bootstrap`].
#[allow(dead_code)]
pub fn tls_bootstrap() -> (String, String) {
    bootstrap();
    if let (Ok(address), Ok(ca)) = (
        std::env::var("YUJING_KAFKA_TLS_BOOTSTRAP"),
        std::env::var("YUJING_KAFKA_TLS_CA"),
    ) {
        return (address, ca);
    }
    let said = control("tls", "cannot ask .ci/kafka for its TLS listener");
    let (address, ca) = said
        .split_once(' ')
        .unwrap_or_else(|| panic!(".ci/kafka tls said '{said}', not 'ADDRESS CA_FILE'"));
    (address.to_owned(), ca.to_owned())
}

/// Runs `.ci/kafka <command>`; returns the last line it printed (an address), or fails saying `failing`.
fn control(command: &str, failing: &str) -> String {
    let ran = std::process::Command::new("bash")
        .arg(control_script())
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("cannot run .ci/kafka: {e}"));
    assert!(
        ran.status.success(),
        "{failing}:\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    String::from_utf8_lossy(&ran.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// One test at a time: one restarts the broker, others run `yujing` processes that take both cores or time a
/// takeover.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
