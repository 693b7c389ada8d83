//! Which keys `openclaw.json` may hold. The reference validates the whole file
//! against a strict schema and refuses a key it does not know; so do we, at
//! every depth of `gateway`, `logging`, `meta` and `ui` and for the
//! top-level sections. Sections this gateway does not use (agents, models,
//! channels, …) are accepted as the reference names them, without looking
//! inside, so a user's existing config keeps working.

use serde_json::{Map, Value};

/// The first key (in file order) that the reference's schema does not know,
/// as "unknown key gateway.prot (did you mean gateway.port?)". The key tree
/// is the core's (`gateway_proto::gateway::config_rpc::keys`), shared with
/// the `config.*` RPCs.
pub fn check(root: &Map<String, Value>) -> Result<(), String> {
    gateway_proto::gateway::config_rpc::keys::check(root)
}

#[cfg(test)]
fn edit_distance(a: &str, b: &str) -> usize {
    gateway_proto::gateway::config_rpc::keys::edit_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), String> {
        let Value::Object(root) = json5::from_str::<Value>(text).unwrap() else {
            panic!("not an object")
        };
        check(&root)
    }

    #[test]
    fn misspelled_keys_name_the_closest() {
        assert_eq!(
            check_text("{ gateway: { prot: 1 } }"),
            Err("unknown key gateway.prot (did you mean gateway.port?)".into())
        );
        assert_eq!(
            check_text("{ gateway: { auth: { tokn: 'x' } } }"),
            Err("unknown key gateway.auth.tokn (did you mean gateway.auth.token?)".into())
        );
        assert_eq!(
            check_text("{ gatway: {} }"),
            Err("unknown key gatway (did you mean gateway?)".into())
        );
        assert_eq!(
            check_text("{ gateway: { controlUi: { allowedOrigin: [] } } }"),
            Err(
                "unknown key gateway.controlUi.allowedOrigin (did you mean gateway.controlUi.allowedOrigins?)"
                    .into()
            )
        );
        let far = check_text("{ zzzzzzzz: 1 }").unwrap_err();
        assert!(
            far.starts_with("unknown key zzzzzzzz (known keys: $schema, meta"),
            "{far}"
        );
    }

    #[test]
    fn reference_keys_we_do_not_use_are_accepted() {
        let text = "{ agents: { defaults: { anything: 1 } }, models: {}, channels: { x: 1 },
            gateway: { mode: 'local', trustedProxies: ['10.0.0.1'], reload: { mode: 'off' },
              controlUi: { allowedOrigins: ['https://a.example'], enabled: true },
              auth: { mode: 'token', token: 't', rateLimit: { maxAttempts: 3 } },
              tailscale: { mode: 'off' }, nodes: {}, tls: {} } }";
        assert_eq!(check_text(text), Ok(()));
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("prot", "port"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("token", "token"), 0);
    }
}
