//! A proxy set in the environment is not used for loopback providers (own
//! test binary: it changes the process environment).

#![allow(clippy::disallowed_methods)]

#[allow(dead_code)]
#[path = "../../tests/src/fake_provider.rs"]
mod fake_provider;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use fake_provider::{Api, FakeProvider, Script};
use gateway_proto::gateway::agents::model::{ModelApi, ModelEvent, ModelRequest};
use gateway_smol::providers::{stream_model, ProviderSettings};

#[test]
fn loopback_providers_are_reached_directly_despite_a_proxy_in_the_environment() {
    // A proxy that refuses every connection: a call sent through it fails.
    let dead_proxy = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    for name in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "http_proxy"] {
        std::env::set_var(name, &dead_proxy);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let fake = FakeProvider::start(vec![Script::reply(Api::OpenAi, &["direct"])]);
    let request = ModelRequest {
        api: ModelApi::OpenAiCompletions,
        base_url: format!("{}/v1", fake.url()),
        api_key: None,
        headers: vec![],
        model: "m".into(),
        max_tokens: None,
        system: String::new(),
        messages: vec![],
        tools: vec![],
        cli: None,
    };
    let settings = ProviderSettings {
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        ..ProviderSettings::default()
    };
    let mut events = Vec::new();
    stream_model(&request, &settings, &AtomicBool::new(false), &mut |event| {
        events.push(event);
        true
    });
    assert_eq!(events.first(), Some(&ModelEvent::Text("direct".into())));
    assert!(
        matches!(events.last(), Some(ModelEvent::Done { .. })),
        "{events:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}
