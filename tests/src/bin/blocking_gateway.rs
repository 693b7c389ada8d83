//! The core driven by the blocking runtime of `tests::blocking` (no smol):
//! `blocking_gateway [TOKEN]` serves on a free loopback port and prints its URL.

use gateway_proto::gateway::{AuthConfig, Config};
use tests::blocking::BlockingGateway;

fn main() {
    let auth = match std::env::args().nth(1) {
        Some(token) => AuthConfig::Token(token),
        None => AuthConfig::None,
    };
    let config = Config::default().with_auth(auth);
    match BlockingGateway::start(config) {
        Ok(gateway) => {
            println!("listening on {}", gateway.url());
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("blocking_gateway: {e}");
            std::process::exit(1);
        }
    }
}
