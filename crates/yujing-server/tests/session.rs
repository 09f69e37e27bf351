//! The page's sessions over plain HTTP: a token buys an HttpOnly cookie, actions by cookie need the session's
//! CSRF token, a handler's board is its town's, a viewer gets no actions, and signing out ends the session.

mod common;

use common::{at, Client};
use serde_json::{json, Value};
use yujing_engine::ManualClock;

struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(api: &Client, token: &str) -> Session {
    let response = api
        .http
        .post(format!("{}/api/v1/session", api.base))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let body: Value = response.json().await.unwrap_or_default();
    assert!(!body.to_string().contains(token), "the token is never sent back");
    Session {
        cookie: set_cookie.split(';').next().unwrap_or_default().to_owned(),
        csrf: body["csrf"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn get(api: &Client, session: &Session, path: &str) -> (u16, Value) {
    let response = api
        .http
        .get(format!("{}{path}", api.base))
        .header("cookie", &session.cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn command(api: &Client, session: &Session, order: &str, csrf: Option<&str>) -> (u16, Value) {
    let mut request = api
        .http
        .post(format!("{}/api/v1/orders/{order}/commands", api.base))
        .header("cookie", &session.cookie)
        .json(&json!({"command": "triage"}));
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_scope_guard_and_end() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-15T09:00:00Z"));
    let config = common::config_with_tokens(&dir.path().join("store"));
    let server = common::start_with(config, &clock).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::all_reports() {
        api.ingest_as("centre-token-0123456789", feed, file, body).await;
    }

    // A wrong token buys nothing; a cookie that names no session is no one.
    let response = api
        .http
        .post(format!("{}/api/v1/session", api.base))
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 401);
    let forged = Session {
        cookie: "yujing_session=00".to_owned(),
        csrf: String::new(),
    };
    assert_eq!(get(&api, &forged, "/api/v1/board").await.0, 401);

    // The centre: the whole county, and actions only with the session's CSRF token.
    let centre = sign_in(&api, "centre-token-0123456789").await;
    let (status, board) = get(&api, &centre, "/api/v1/board").await;
    assert_eq!(status, 200);
    assert_eq!(board["warnings_total"], json!(2), "{board}");
    assert_eq!(
        board["points"].as_array().map(Vec::len),
        Some(1),
        "one open dispute: {board}"
    );
    assert_eq!(board["points"][0]["inside"], json!(true));
    let order = board["warnings"][0]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, answer) = command(&api, &centre, &order, None).await;
    assert_eq!((status, answer["error"]["code"].clone()), (403, json!("csrf")));
    let (status, _) = command(&api, &centre, &order, Some("0123")).await;
    assert_eq!(status, 403);
    let (status, answer) = command(&api, &centre, &order, Some(&centre.csrf)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["order"]["status"], json!("triaged"));
    let (_, detail) = get(&api, &centre, &format!("/api/v1/orders/{order}")).await;
    assert!(
        detail["actions"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("dispatch"))),
        "{detail}"
    );
    // Filters narrow the board: no red in 白蒲镇.
    let (_, filtered) = get(&api, &centre, "/api/v1/board?town=白蒲镇&level=red").await;
    assert_eq!(filtered["warnings_total"], json!(0));
    assert_eq!(get(&api, &centre, "/api/v1/board?colour=red").await.0, 400);

    // 白蒲镇's handler sees none of 如城街道's.
    let baipu = sign_in(&api, "baipu-token-0123456789").await;
    let (_, board) = get(&api, &baipu, "/api/v1/board").await;
    assert_eq!(board["warnings_total"], json!(0), "{board}");
    assert!(!board.to_string().contains("如城街道"), "{board}");
    let warning = "/api/v1/warnings/".to_owned() + listed_warning(&api).await.as_str();
    assert_eq!(get(&api, &baipu, &warning).await.0, 404);
    assert_eq!(get(&api, &baipu, &format!("/api/v1/orders/{order}")).await.0, 403);

    // A viewer is offered no action and may not act.
    let viewer = sign_in(&api, "viewer-token-0123456789").await;
    let (_, detail) = get(&api, &viewer, &format!("/api/v1/orders/{order}")).await;
    assert_eq!(detail["actions"], json!([]));
    assert_eq!(command(&api, &viewer, &order, Some(&viewer.csrf)).await.0, 403);

    // Signing out needs the CSRF token, and ends the session.
    let sign_out = |csrf: Option<String>| {
        let mut request = api
            .http
            .delete(format!("{}/api/v1/session", api.base))
            .header("cookie", &centre.cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let response = sign_out(None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 403);
    let response = sign_out(Some(centre.csrf.clone()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(get(&api, &centre, "/api/v1/board").await.0, 401);
    server.stop().await;
}

async fn listed_warning(api: &Client) -> String {
    let (_, listed) = api.get("centre-token-0123456789", "/api/v1/warnings").await;
    listed["warnings"][0]["warning_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_whole_small_and_locked_down() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-15T09:00:00Z"));
    let server = common::start(&dir.path().join("store"), &clock, None).await;
    let api = Client::new(&server);
    let mut weight = 0;
    for (path, content_type, body) in yujing_server::console::ASSETS {
        let response = api
            .http
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type);
        assert!(header("content-security-policy").contains("default-src 'none'"));
        assert_eq!(header("x-content-type-options"), "nosniff");
        let text = response.text().await.unwrap_or_default();
        assert_eq!(text, body);
        // Offline: nothing is fetched from another origin (the SVG namespace is a name, not an address).
        let addresses = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !addresses.contains("http://") && !addresses.contains("https://"),
            "{path} reaches out"
        );
        weight += text.len();
    }
    assert!(
        weight <= 300 * 1024,
        "the page weighs {weight} bytes without data"
    );
    server.stop().await;
}
