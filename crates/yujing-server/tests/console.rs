//! The command centre's page in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `.ci/setup`), driven through the DevTools protocol. The page is signed in to, read, updated live, acted on and
//! scoped exactly as an operator would see it; a screenshot is kept as an artifact.

mod common;

use std::io::BufRead;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{at, Client};
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use yujing_engine::ManualClock;

const CENTRE: &str = common::TOKENS[0].0;
const BAIPU: &str = common::TOKENS[2].0;

/// Chromium with one page, spoken to over the DevTools protocol (one flattened session).
struct Browser {
    process: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut process = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--window-size=1920,1080",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromium is not installed ({e}): run `bash .ci/setup`"));
        // Chromium says where its DevTools endpoint listens on stderr.
        let stderr = process.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let mut lines = std::io::BufReader::new(stderr).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => panic!("chromium exited before it listened for DevTools"),
            }
        };
        // Keep reading stderr so chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let (socket, _) = tungstenite::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut browser = Browser {
            process,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap_or_default().to_owned();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap_or_default().to_owned();
        browser.call("Page.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Sends a command (to the page's session once attached) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        loop {
            let message = self.socket.read().unwrap_or_else(|e| panic!("{method}: {e}"));
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            if answer["id"] == json!(id) {
                if let Some(error) = answer.get("error") {
                    panic!("{method}: {error}");
                }
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page, or fails naming `what`.
    fn wait_for(&mut self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.eval(expression) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = self.eval("document.body.innerText");
        panic!("timed out waiting for {what}; the page shows:\n{text}");
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("document.readyState === 'complete'", "the page to load");
    }

    fn sign_in(&mut self, token: &str) {
        self.wait_for("!document.getElementById('sign-in').hidden", "the sign-in form");
        self.eval(&format!(
            "document.getElementById('token').value = {}; document.getElementById('sign-in-form').requestSubmit(); true",
            json!(token)
        ));
        self.wait_for(
            "!document.getElementById('console').hidden && document.querySelector('#map path') !== null",
            "the console after signing in",
        );
    }

    fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Five new hotline calls about one restaurant's fumes at 白蒲镇's 白蒲花苑, from five callers over three days:
/// an orange warning of 白蒲镇, with no coordinates (the hotline gives none).
fn baipu_reports() -> String {
    [
        (
            "2026-06-12 09:10:00",
            "钱女士",
            "13862710001",
            "白蒲镇白蒲花苑小区3幢楼下的饭店油烟太大，窗户都不能开，要求处理。",
        ),
        (
            "2026-06-12 14:30:00",
            "孙先生",
            "13862710002",
            "反映白蒲花苑小区3幢底商饭店油烟直排，住户意见很大。",
        ),
        (
            "2026-06-13 08:05:00",
            "李先生",
            "13862710003",
            "白蒲镇白蒲花苑3幢饭店油烟扰民，多次反映没有解决。",
        ),
        (
            "2026-06-13 19:45:00",
            "周女士",
            "13862710004",
            "白蒲花苑小区楼下饭店排油烟，晚上噪音也大，请尽快处理。",
        ),
        (
            "2026-06-14 10:20:00",
            "吴先生",
            "13862710005",
            "白蒲镇白蒲花苑小区3幢饭店油烟污染问题一直没人管。",
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (time, name, phone, text))| {
        json!({
            "gdbh": format!("RG202606129000{i}"), "ldsj": time, "gxsj": time, "ldrxm": name, "ldhm": phone,
            "sqlx": "投诉", "sqlb": "环境污染", "sqnr": text, "sjdz": "如皋市白蒲镇白蒲花苑3幢",
            "ssjd": "白蒲镇", "blzt": "待派单",
        })
        .to_string()
            + "\n"
    })
    .collect()
}

fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_updates_acts_and_scopes_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-15T09:00:00Z"));
    let config = common::config_with_tokens(&dir.path().join("store"));
    let server = common::start_with(config, &clock).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::all_reports() {
        api.ingest_as(CENTRE, feed, file, body).await;
    }
    let base = api.base.clone();

    // Chromium blocks while it is driven: on a thread of its own, beside the server's runtime.
    let (to_test, mut from_browser) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let (to_browser, for_browser) = std::sync::mpsc::channel::<()>();
    let driver = std::thread::spawn(move || {
        let mut browser = Browser::launch();
        browser.open(&base);
        browser.sign_in(CENTRE);

        // The 锦绣华庭 warning: red, drawn inside the county outline, and listed.
        browser.wait_for(
            "document.querySelectorAll('#map .point.red').length === 1",
            "one red point on the map",
        );
        let drawn = browser.eval(
            r#"(() => {
                const point = document.querySelector('#map .point.red');
                const m = point.transform.baseVal.consolidate().matrix;
                const outline = document.getElementById('outline');
                const fill = getComputedStyle(point.querySelector('circle')).fill;
                return { inside: outline.isPointInFill(new DOMPoint(m.e, m.f)), fill,
                         text: point.querySelector('text').textContent, label: point.getAttribute('aria-label') };
            })()"#,
        );
        assert_eq!(drawn["inside"], json!(true), "{drawn}");
        assert_eq!(drawn["fill"], json!("rgb(229, 72, 77)"), "{drawn}");
        assert_eq!(
            drawn["text"],
            json!("红"),
            "colour is not the only signal: {drawn}"
        );
        assert!(
            drawn["label"].as_str().unwrap_or_default().contains("锦绣华庭"),
            "{drawn}"
        );
        let listed = browser.eval("document.querySelector('#warnings tbody tr').innerText");
        let listed = listed.as_str().unwrap_or_default();
        assert!(
            listed.contains("红") && listed.contains("锦绣华庭") && listed.contains("如城街道"),
            "{listed}"
        );
        browser.wait_for(
            "document.getElementById('live').className === 'live on'",
            "the live stream to connect",
        );

        // A new dispute arrives while the page is open: it appears without a reload.
        browser.eval("window.notReloaded = true");
        to_test
            .send("post the 白蒲镇 reports")
            .unwrap_or_else(|e| panic!("{e}"));
        for_browser.recv().unwrap_or_else(|e| panic!("{e}"));
        browser.wait_for(
            "[...document.querySelectorAll('#warnings tbody tr')].some(r => r.innerText.includes('白蒲花苑'))",
            "the 白蒲镇 warning to appear live",
        );
        assert_eq!(browser.eval("window.notReloaded === true"), json!(true));
        // It has no coordinates: the town is its place.
        browser.wait_for(
            "document.getElementById('unlocated').innerText.includes('白蒲镇：1 处')",
            "白蒲镇 in the tally of warnings without coordinates",
        );

        // Drill down into 锦绣华庭 and dispatch its order from the page.
        browser.eval(
            "[...document.querySelectorAll('#warnings tbody tr')].find(r => r.innerText.includes('锦绣华庭')).click(); true",
        );
        browser.wait_for(
            "document.getElementById('detail').open && document.querySelectorAll('.timeline li').length === 8 && !!document.querySelector('[data-action=dispatch]')",
            "the evidence timeline with a dispatch button",
        );
        let detail = browser.eval("document.getElementById('detail').innerText");
        let detail = detail.as_str().unwrap_or_default().to_owned();
        assert!(
            detail.contains("recurring-red") && detail.contains("关联依据"),
            "{detail}"
        );
        assert!(
            !detail.contains("13962751208") && detail.contains("139****1208"),
            "phones are masked: {detail}"
        );
        browser.eval("document.querySelector('[data-action=dispatch]').click(); true");
        browser.wait_for(
            "document.getElementById('order-status') && document.getElementById('order-status').innerText === '已派发'",
            "the order to show dispatched",
        );
        browser.eval("document.getElementById('detail').close(); true");
        let wall = browser.screenshot();
        to_test.send("dispatched").unwrap_or_else(|e| panic!("{e}"));
        for_browser.recv().unwrap_or_else(|e| panic!("{e}"));

        // 白蒲镇's handler sees 白蒲镇 and nothing of 如城街道.
        browser.eval("document.getElementById('sign-out').click(); true");
        browser.wait_for(
            "!document.getElementById('sign-in').hidden",
            "the sign-in form again",
        );
        browser.sign_in(BAIPU);
        browser.wait_for(
            "[...document.querySelectorAll('#warnings tbody tr')].some(r => r.innerText.includes('白蒲花苑'))",
            "白蒲镇's warning",
        );
        let text = browser.eval("document.body.innerText");
        let text = text.as_str().unwrap_or_default();
        assert!(!text.contains("如城街道") && !text.contains("锦绣华庭"), "{text}");
        assert_eq!(
            browser.eval("document.querySelectorAll('#map .point').length"),
            json!(0)
        );
        wall
    });

    assert_eq!(
        from_browser
            .recv()
            .await
            .unwrap_or_else(|| panic!("the browser's checks failed (see above)")),
        "post the 白蒲镇 reports"
    );
    api.ingest_as(
        CENTRE,
        "hotline12345",
        "hotline12345.0614.jsonl",
        baipu_reports().into_bytes(),
    )
    .await;
    to_browser.send(()).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        from_browser
            .recv()
            .await
            .unwrap_or_else(|| panic!("the browser's checks failed (see above)")),
        "dispatched"
    );
    let (_, orders) = api.get(CENTRE, "/api/v1/orders?town=如城街道").await;
    assert_eq!(orders["orders"][0]["status"], json!("dispatched"), "{orders}");
    let history = api
        .get(
            CENTRE,
            &format!(
                "/api/v1/orders/{}",
                orders["orders"][0]["order_id"].as_str().unwrap_or_default()
            ),
        )
        .await
        .1;
    let dispatched = history["history"]
        .as_array()
        .and_then(|h| h.iter().find(|e| e["type"] == json!("dispatched")))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        dispatched["actor"]["name"],
        json!("centre"),
        "the page acted as who signed in: {history}"
    );
    to_browser.send(()).unwrap_or_else(|e| panic!("{e}"));

    let wall = tokio::task::spawn_blocking(move || driver.join())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|_| panic!("the browser's checks failed (see above)"));
    let shot = artifact("console.png");
    std::fs::write(&shot, &wall).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        wall.len() > 20_000,
        "the screenshot shows a page ({} bytes)",
        wall.len()
    );
    eprintln!("screenshot: {}", shot.display());
    server.stop().await;
}
