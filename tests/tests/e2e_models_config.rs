//! The model sections of `openclaw.json` on OUR gateway: the reference's
//! minimal agent config (§4.9 of the notes: a custom provider and
//! `agents.defaults.model`) starts and serves; a provider with an API this
//! gateway does not speak is named in a warning instead of stopping it.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use tests::process::{http_get, GatewayOptions, OurGateway};

#[test]
fn the_reference_agent_config_starts_and_an_unknown_api_is_only_warned_about() {
    let config = r#"{
        models: { mode: "merge", providers: {
            fake: { baseUrl: "http://127.0.0.1:9/v1", apiKey: "sk-fake", api: "openai-completions",
                    models: [{ id: "echo", name: "Echo", reasoning: false, input: ["text"],
                               contextWindow: 32000, maxTokens: 1000 }] },
            gem: { baseUrl: "http://127.0.0.1:9", api: "google-generative-ai" } } },
        agents: { defaults: { model: { primary: "fake/echo" } } },
    }"#;
    let gw = OurGateway::start(GatewayOptions {
        config: Some(config.to_owned()),
        ..GatewayOptions::default()
    });
    let (status, body) = http_get(gw.port, "/readyz");
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = gw.output();
        if output.contains("models.providers.gem.api") {
            assert!(output.contains("google-generative-ai"), "{output}");
            assert!(!output.contains("sk-fake"), "the key was logged: {output}");
            break;
        }
        assert!(Instant::now() < deadline, "no warning in: {output}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
