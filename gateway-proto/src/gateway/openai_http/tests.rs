//! Pure helpers of the `/v1` surface (scenarios are in tests/openai_http.rs).

use serde_json::json;

use super::*;

#[test]
fn prompts_keep_the_conversation() {
    let messages = json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
    ]);
    let prompt = build_prompt(messages.as_array().unwrap());
    assert_eq!(
        prompt,
        "[Chat messages since your last reply - for context]\nUser: hi\nAssistant: hello\n\n\
         [Current message - respond to this]\nUser: and now?"
    );
    assert_eq!(
        build_prompt(
            json!([{"role": "user", "content": "only"}])
                .as_array()
                .unwrap()
        ),
        "only"
    );
}

#[test]
fn reserved_namespaces_and_agent_targets() {
    for key in [
        "cron:x",
        "subagent:y",
        "acp:z",
        "agent:main:cron:x",
        "AGENT:Main:Subagent:q",
    ] {
        assert!(reserved_session_key(key), "{key}");
    }
    for key in ["main", "agent:main:openai-user:u", "crontab"] {
        assert!(!reserved_session_key(key), "{key}");
    }
    assert_eq!(agent_of_model("openclaw").as_deref(), Some("main"));
    assert_eq!(agent_of_model("OpenClaw/Default").as_deref(), Some("main"));
    assert_eq!(agent_of_model("openclaw:ops").as_deref(), Some("ops"));
    assert_eq!(agent_of_model("agent:ops").as_deref(), Some("ops"));
    assert_eq!(agent_of_model("gpt-4o"), None);
    assert_eq!(agent_of_model("openclaw/-x"), None);
}
