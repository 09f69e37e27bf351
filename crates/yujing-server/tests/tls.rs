//! HTTPS (`[server.tls]`): the API answers over TLS with the configured certificate, plain HTTP on the same
//! port gets no answer, and files that cannot serve are refused when the configuration is checked.

mod common;

use common::at;
use yujing_engine::ManualClock;
use yujing_server::config::{ServerConfig, TlsConfig};

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files in `dir`: (cert, key, cert PEM).
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let issued = rcgen::generate_simple_self_signed(names).unwrap_or_else(|e| panic!("{e}"));
    let cert_pem = issued.cert.pem();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&key, issued.key_pair.serialize_pem()).unwrap_or_else(|e| panic!("{e}"));
    (cert, key, cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_over_tls_and_plain_http_on_its_port_gets_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cert_file, key_file, cert_pem) = certificate(dir.path());
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let mut config = common::config(&dir.path().join("store"), None);
    config.server.tls = TlsConfig { cert_file, key_file };
    let server = common::start_with(config, &clock).await;
    let trusted = reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let https = reqwest::Client::builder()
        .add_root_certificate(trusted)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let port = server.addr.port();
    let health = https
        .get(format!("https://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(health.status().as_u16(), 200);
    let orders = https
        .get(format!("https://127.0.0.1:{port}/api/v1/orders"))
        .bearer_auth("demo-viewer")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(orders.status().as_u16(), 200);
    // The page's session cookie is Secure over HTTPS, with no proxy to say so.
    let signed_in = https
        .post(format!("https://127.0.0.1:{port}/api/v1/session"))
        .json(&serde_json::json!({"token": "demo-centre"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    // A client that does not trust the certificate is refused by its own TLS, and plain HTTP gets no answer.
    let untrusting = reqwest::Client::new()
        .get(format!("https://127.0.0.1:{port}/health"))
        .send()
        .await;
    assert!(
        untrusting.is_err(),
        "a self-signed certificate was trusted without its root"
    );
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was served on the TLS port: {plain:?}"
    );
    server.stop().await;
}

#[test]
fn tls_files_that_cannot_serve_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cert_file, key_file, _) = certificate(dir.path());
    let problems = |tls: TlsConfig| {
        let mut server = ServerConfig::defaults();
        server.tls = tls;
        server.tls.acceptor().err().unwrap_or_default()
    };
    let only_cert = problems(TlsConfig {
        cert_file: cert_file.clone(),
        key_file: Default::default(),
    });
    assert!(
        only_cert.contains("give both cert_file and key_file"),
        "{only_cert}"
    );
    let swapped = problems(TlsConfig {
        cert_file: key_file.clone(),
        key_file: cert_file.clone(),
    });
    assert!(swapped.contains("server.tls.cert_file"), "{swapped}");
    let missing = problems(TlsConfig {
        cert_file: dir.path().join("absent.pem"),
        key_file,
    });
    assert!(missing.contains("absent.pem"), "{missing}");
    assert_eq!(problems(TlsConfig::default()), "", "no TLS is no problem");
}
