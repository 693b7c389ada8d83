//! `openclaw setup` (and `openclaw --dev setup`): create the profile's state
//! dir (0700) and a config (0600) with a random gateway token, so the
//! instance runs and authenticates on its own, isolated from the others.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use argh::FromArgs;

/// Create the state dir and a config with a gateway token for this profile.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "setup")]
pub struct SetupArgs {}

fn random_token() -> String {
    let mut b = [0u8; 24];
    let _ = getrandom::getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn run(_: SetupArgs) -> i32 {
    let env = &|k: &str| std::env::var(k).ok();
    let state = crate::service::state_dir(env);
    let config = crate::service::config_path(env);
    let port = crate::service::profile_port(env);
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state)
    {
        eprintln!("{}: {e}", state.display());
        return 1;
    }
    if config.exists() {
        println!("Config already exists: {}", config.display());
        println!("State dir: {}", state.display());
        return 0;
    }
    let text = format!(
        "{{\n  \"gateway\": {{\n    \"mode\": \"local\",\n    \"port\": {port},\n    \"bind\": \"loopback\",\n    \"auth\": {{\n      \"mode\": \"token\",\n      \"token\": \"{}\"\n    }}\n  }}\n}}\n",
        random_token()
    );
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&config)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    if let Err(e) = written {
        eprintln!("{}: {e}", config.display());
        return 1;
    }
    println!("Wrote config: {}", config.display());
    println!("State dir: {}", state.display());
    println!("Gateway port: {port} (token auth; the token is in the config)");
    0
}
