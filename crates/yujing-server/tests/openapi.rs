//! `schemas/openapi.json` describes exactly the routes the server serves, and every schema it refers to exists.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::at;
use serde_json::Value;
use yujing_engine::ManualClock;

fn openapi() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("openapi.json: {e}"))
}

fn documented() -> BTreeSet<(String, String)> {
    let doc = openapi();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

#[test]
fn the_document_lists_exactly_the_routes() {
    let served: BTreeSet<(String, String)> = yujing_server::api::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented(), served);
}

#[test]
fn every_referenced_schema_exists() {
    let doc = openapi();
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let text = doc.to_string();
    let mut refs = BTreeSet::new();
    for piece in text.split("\"$ref\":\"").skip(1) {
        refs.insert(piece.split('"').next().unwrap_or_default().to_owned());
    }
    assert!(!refs.is_empty());
    for reference in refs {
        let (file, pointer) = reference.split_once('#').unwrap_or((reference.as_str(), ""));
        let target: Value = if file.is_empty() {
            doc.clone()
        } else {
            let text =
                std::fs::read_to_string(schemas.join(file)).unwrap_or_else(|e| panic!("{reference}: {e}"));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{reference}: {e}"))
        };
        assert!(target.pointer(pointer).is_some(), "{reference} points at nothing");
    }
}

/// Every route answers as a route (not the router's bare 404 or 405): the list is the router's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_is_served() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let server = common::start(&dir.path().join("store"), &clock, None).await;
    let http = reqwest::Client::new();
    for route in yujing_server::api::ROUTES {
        let (method, path) = (&route.method, &route.path);
        let url = format!(
            "http://{}{}",
            server.addr,
            path.replace('{', "x").replace('}', "")
        );
        let request = match *method {
            "get" => http.get(&url),
            "post" => http.post(&url),
            "delete" => http.delete(&url),
            other => panic!("unexpected method {other}"),
        };
        // No token: a served route answers 401 with a JSON error (200 for the public ones: /health, /ready, /metrics and
        // the page's files; 400 for a sign-in without a token), never an empty 404/405.
        let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let public = [
            "/health",
            "/ready",
            "/metrics",
            "/",
            "/assets/app.js",
            "/assets/app.css",
        ];
        assert!(
            (status == 401 && body.contains("unauthorized"))
                || (status == 200 && public.contains(path))
                || (status == 400
                    && (*method, *path) == ("post", "/api/v1/session")
                    && body.contains("bad_sign_in")),
            "{method} {path}: {status} {body}"
        );
    }
    let response = http
        .get(format!("http://{}/api/v1/nothing", server.addr))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 404);
    server.stop().await;
}
