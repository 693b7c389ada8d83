//! Method dispatch through the hub, in virtual time: params decoding as the
//! reference reads them, waiting on effects (deadline, bound), and params
//! checks that stay linear in what a peer sends.

use gateway_proto::gateway::{AuthConfig, Config, Limits};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::Value;

const C: ConnId = ConnId(1);

fn connected(limits: Limits) -> Harness {
    let config = Config::default()
        .with_auth(AuthConfig::Token("t".into()))
        .with_limits(limits);
    let mut h = Harness::new(config, Timestamp::ZERO, 1_800_000_000_000);
    h.open(C, "127.0.0.1");
    h.text(
        C,
        r#"{"type":"req","id":"c","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"gateway-client","version":"1","platform":"linux","mode":"backend"},"role":"operator","scopes":["operator.admin"],"auth":{"token":"t"}}}"#,
    );
    assert_eq!(h.response(C, "c", 0).unwrap()["ok"], true);
    h
}

fn call(h: &mut Harness, id: &str, method: &str, params: &str) -> Option<Value> {
    h.text(
        C,
        &format!(r#"{{"type":"req","id":"{id}","method":"{method}","params":{params}}}"#),
    );
    h.response(C, id, 0).cloned()
}

#[test]
fn a_repeated_param_takes_its_last_value_as_json_parse_does() {
    let mut h = connected(Limits::default());
    let res = call(
        &mut h,
        "e",
        "system-event",
        r#"{"text":"first","text":"last","instanceId":"X","pad":{"deep":[1,2,3]}}"#,
    )
    .unwrap();
    assert_eq!(res["ok"], true, "{res}");
    let texts: Vec<String> = h
        .gateway
        .presence()
        .entries()
        .filter_map(|e| e.text.clone())
        .collect();
    assert!(texts.iter().any(|t| t == "last"), "{texts:?}");
}

#[test]
fn a_log_read_that_never_comes_back_is_answered_unavailable() {
    let mut h = connected(Limits::default());
    // The harness leaves log reads unanswered (no slice configured).
    assert!(call(&mut h, "l", "logs.tail", r#"{"limit":5}"#).is_none());
    h.advance_ms(29_000);
    assert!(h.response(C, "l", 0).is_none(), "not before the deadline");
    h.advance_ms(2_000);
    let res = h.response(C, "l", 0).expect("answered at the deadline");
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    assert_eq!(h.gateway.pending_effects(), 0);
}

#[test]
fn log_reads_in_flight_are_bounded() {
    let mut h = connected(Limits::default().with_max_pending_effects(2));
    assert!(call(&mut h, "a", "logs.tail", "{}").is_none());
    assert!(call(&mut h, "b", "logs.tail", "{}").is_none());
    let res = call(&mut h, "c3", "logs.tail", "{}").expect("refused at once");
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    assert_eq!(res["error"]["message"], "too many log reads in flight");
}

#[test]
fn params_with_very_many_keys_are_checked_in_linear_time() {
    let mut h = connected(Limits::default());
    // 200,000 unknown keys (about 2.6 MB). A check that compared every key
    // with every other one would not finish; this one does, at once.
    let mut params = String::from("{");
    for i in 0..200_000 {
        params.push_str(&format!(r#""k{i}":0,"#));
    }
    params.push_str(r#""limit":1}"#);
    let res = call(&mut h, "big", "logs.tail", &params).expect("refused");
    let message = res["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        message, "invalid logs.tail params: at root: unexpected property 'k0'",
        "{res}"
    );
}
