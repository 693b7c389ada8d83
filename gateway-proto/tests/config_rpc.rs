//! The `config.*` methods in the core: who may call them, what they answer
//! without a file, the schema lookup, and the control-plane write budget
//! (30 `config.patch` per minute per client).

mod common;

use common::nodes::*;
use gateway_proto::ConnId;
use serde_json::json;

#[test]
fn config_methods_are_listed_and_scoped() {
    let names: Vec<&str> = gateway_proto::gateway::method_names().collect();
    for method in [
        "config.get",
        "config.set",
        "config.apply",
        "config.patch",
        "config.schema",
        "config.schema.lookup",
    ] {
        assert!(names.contains(&method), "{method} not advertised");
    }
    // `config.changed` is broadcast but, as in the reference, not advertised.
    assert!(!gateway_proto::gateway::event_names().any(|e| e == "config.changed"));

    let mut h = harness();
    operator(&mut h, ConnId(3), &["operator.read"]);
    let lookup = call(
        &mut h,
        ConnId(3),
        "l1",
        "config.schema.lookup",
        json!({"path": "gateway.port"}),
    );
    assert_eq!(lookup["payload"]["reloadKind"], "restart", "{lookup}");
    let missing = call(
        &mut h,
        ConnId(3),
        "l2",
        "config.schema.lookup",
        json!({"path": "gateway.nope"}),
    );
    assert_eq!(missing["error"]["message"], "config schema path not found");
    let schema = call(&mut h, ConnId(3), "s1", "config.schema", json!({}));
    assert_eq!(
        schema["payload"]["schema"]["properties"]["gateway"]["properties"]["port"]["type"],
        "integer"
    );
    for (id, method) in [
        ("w1", "config.patch"),
        ("w2", "config.set"),
        ("w3", "config.apply"),
    ] {
        let denied = call(&mut h, ConnId(3), id, method, json!({"raw": "{}"}));
        assert_eq!(
            denied["error"]["message"], "missing scope: operator.admin",
            "{method}"
        );
    }
    // A runtime without the file answers UNAVAILABLE.
    let get = call(&mut h, ConnId(3), "g1", "config.get", json!({}));
    assert_eq!(get["error"]["code"], "UNAVAILABLE", "{get}");
    let bad = call(&mut h, ADMIN, "w4", "config.patch", json!({}));
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");
}

#[test]
fn patch_is_limited_to_thirty_calls_a_minute_per_client() {
    let mut h = harness();
    for n in 0..30 {
        let res = call(
            &mut h,
            ADMIN,
            &format!("p{n}"),
            "config.patch",
            json!({"raw": "{}"}),
        );
        assert_ne!(
            res["error"]["message"],
            "rate limit exceeded for config.patch; retry after 60s"
        );
    }
    let limited = call(&mut h, ADMIN, "p30", "config.patch", json!({"raw": "{}"}));
    assert_eq!(limited["error"]["code"], "UNAVAILABLE");
    assert_eq!(
        limited["error"]["message"],
        "rate limit exceeded for config.patch; retry after 60s"
    );
    assert_eq!(limited["error"]["details"]["limit"], "30 per 60s");
    assert_eq!(limited["error"]["retryable"], true);
    // Another method has its own budget.
    let apply = call(&mut h, ADMIN, "a1", "config.apply", json!({"raw": "{}"}));
    assert_ne!(apply["error"]["details"]["limit"], "30 per 60s", "{apply}");
}

mod never_panics {
    use gateway_proto::gateway::config_rpc::{self, ConfigFile, WriteMethod, WriteRequest};
    use proptest::prelude::*;

    /// JSON5-ish text built from config-like pieces, often valid, often not.
    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("null".to_owned()),
            Just("gateway".to_owned()),
            Just("ui".to_owned()),
            Just("prefs".to_owned()),
            Just("'__OPENCLAW_REDACTED__'".to_owned()),
            Just("token".to_owned()),
            Just("\"id\"".to_owned()),
            "[a-zA-Z0-9 '\"/*\\\\]{0,6}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn planning_any_request_against_any_file_answers(
            file in text(), raw in text(), hashed in any::<bool>(), method in 0u8..3,
        ) {
            let file = ConfigFile { path: "/s/openclaw.json".into(), exists: true, raw: file };
            let request = WriteRequest {
                method: [WriteMethod::Patch, WriteMethod::Set, WriteMethod::Apply][method as usize],
                raw,
                base_hash: hashed.then(|| config_rpc::hash(&file.raw)),
                replace_paths: vec!["gateway.trustedProxies".into()],
                note: None,
            };
            let _ = config_rpc::plan(&file, &request);
            let _ = config_rpc::get_answer(&file);
        }
    }
}
