//! The methods the Control UI calls, checked against what the browser
//! recorded (`tests/browser/fixtures/`): every method of the reference run's
//! call sequence is served by our gateway (or is one the UI calls only when
//! the gateway advertises it, listed below with why we do not), and each
//! served one answers in the reference's shape: the same JSON type and no
//! field the reference does not have.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use tests::chat::fake_model_config;
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::process::{GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(15);

/// Methods of the reference run this gateway does not serve. The UI checks
/// `features.methods` before calling each of them, so against our gateway it
/// never does (the browser test fails on any error answer, so it proves it).
const NOT_SERVED: &[(&str, &str)] = &[
    (
        "plugin.surface.refresh",
        "no plugin surfaces (canvas host) here",
    ),
    (
        "plugins.controlUi.list",
        "no plugins; the reference's revision hash is not reproducible yet",
    ),
    (
        "openclaw.setup.detect",
        "no setup assistant (system agent) here",
    ),
    ("mentions.list", "no mentions inbox"),
    ("board.get", "no session boards"),
    ("projects.list", "no project workspaces"),
    ("sessions.github.options", "no GitHub integration"),
    ("session.members.listEvidence", "no session membership"),
];

/// Calls with side effects the shape check must not repeat.
const NOT_REPLAYED: &[&str] = &["connect", "chat.send", "device.pair.approve"];

fn fixture(name: &str) -> Value {
    let path = format!("{}/browser/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every method the reference run sent, first load and pages together.
fn recorded_methods() -> BTreeSet<String> {
    let sequence = fixture("load-sequence.json");
    let reference = &sequence["reference"];
    let mut methods: BTreeSet<String> = BTreeSet::new();
    let mut add = |list: &Value| {
        for m in list.as_array().expect("a list of methods") {
            methods.insert(m.as_str().expect("a method name").to_owned());
        }
    };
    add(&reference["firstLoad"]);
    for calls in reference["pages"].as_object().expect("pages").values() {
        add(calls);
    }
    methods
}

async fn until_res(ws: &mut RawWs, id: &str) -> Value {
    loop {
        match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["type"] == "res" && v["id"] == id => return v,
            Some(_) => {}
            None => panic!("no answer to {id}"),
        }
    }
}

/// An operator with every scope the Control UI asks for; the hello-ok.
async fn operator(url: &str) -> (RawWs, Value) {
    let mut ws = RawWs::open(url).await.expect("open");
    let _challenge = ws.recv_timeout(WAIT).await;
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
        "role": "operator",
        "scopes": ["operator.admin", "operator.read", "operator.write", "operator.approvals",
                   "operator.questions", "operator.pairing"],
        "caps": [], "auth": {"token": TOKEN},
    }});
    ws.send_json(&frame).await.expect("send connect");
    let res = until_res(&mut ws, "c0").await;
    assert_eq!(res["ok"], true, "{res}");
    (ws, res["payload"].clone())
}

/// Where `ours` differs in shape from `reference`: another JSON type, or an
/// object key the reference does not have (nested objects too).
fn shape_differences(path: &str, ours: &Value, reference: &Value, out: &mut Vec<String>) {
    match (ours, reference) {
        (Value::Object(o), Value::Object(r)) => {
            for (key, value) in o {
                match r.get(key) {
                    None => out.push(format!("{path}.{key}: not in the reference's answer")),
                    Some(rv) if !rv.is_null() && !value.is_null() => {
                        shape_differences(&format!("{path}.{key}"), value, rv, out)
                    }
                    Some(_) => {}
                }
            }
        }
        (Value::Array(_), Value::Array(_)) => {}
        (o, r) if std::mem::discriminant(o) == std::mem::discriminant(r) => {}
        (Value::Number(_), Value::Number(_)) => {}
        (o, r) => out.push(format!("{path}: {o} where the reference has {r}")),
    }
}

fn gateway() -> (OurGateway, FakeProvider) {
    let provider = FakeProvider::start(vec![Script::reply(Api::OpenAi, &["unused"])]);
    let gateway = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    (gateway, provider)
}

#[test]
fn every_method_the_browser_recorded_is_served_or_never_called() {
    let (gateway, _provider) = gateway();
    let (_ws, hello) = smol::block_on(operator(&gateway.url()));
    let served: BTreeSet<&str> = hello["features"]["methods"]
        .as_array()
        .expect("features.methods")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut missing = Vec::new();
    for method in recorded_methods() {
        if method == "connect" || served.contains(method.as_str()) {
            continue;
        }
        if !NOT_SERVED.iter().any(|(m, _)| *m == method) {
            missing.push(method);
        }
    }
    assert!(missing.is_empty(), "recorded but not served: {missing:?}");
    for (method, _) in NOT_SERVED {
        assert!(
            !served.contains(method),
            "{method} is served now: drop it from NOT_SERVED"
        );
    }
}

#[test]
fn served_methods_answer_in_the_reference_shape() {
    let answers = fixture("reference-answers.json");
    let (gateway, _provider) = gateway();
    let report = smol::block_on(async {
        let (mut ws, hello) = operator(&gateway.url()).await;
        let served: BTreeSet<String> = hello["features"]["methods"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect();
        let mut report = Vec::new();
        let mut checked = 0;
        for (i, (method, recorded)) in answers["methods"].as_object().unwrap().iter().enumerate() {
            if NOT_REPLAYED.contains(&method.as_str()) || !served.contains(method) {
                continue;
            }
            let id = format!("r{i}");
            let params = recorded["params"].clone();
            let frame = json!({"type": "req", "id": id, "method": method, "params": params});
            ws.send_json(&frame).await.expect("send");
            let res = until_res(&mut ws, &id).await;
            if res["ok"] != true {
                report.push(format!("{method}: {}", res["error"]));
                continue;
            }
            shape_differences(method, &res["payload"], &recorded["result"], &mut report);
            checked += 1;
        }
        assert!(checked >= 25, "only {checked} methods checked");
        report
    });
    assert!(report.is_empty(), "{report:#?}");
}
