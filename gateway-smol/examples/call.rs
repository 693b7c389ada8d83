//! Call one gateway method and print the result.
//!
//! ```text
//! cargo run -p gateway-smol --example call -- ws://127.0.0.1:18789 health
//! OPENCLAW_GATEWAY_TOKEN=secret cargo run -p gateway-smol --example call -- ws://127.0.0.1:18789 status '{}'
//! ```

use gateway_smol::client::{Client, ClientOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:18789".into());
    let method = args.next().unwrap_or_else(|| "health".into());
    let params = args
        .next()
        .map(|p| serde_json::from_str(&p).expect("params must be JSON"));
    let opts = ClientOptions {
        token: std::env::var("OPENCLAW_GATEWAY_TOKEN").ok(),
        reconnect: false,
        ..Default::default()
    };
    let result = smol::block_on(async {
        let client = Client::connect(&url, opts).await?;
        let result = client.call(&method, params).await;
        client.close().await;
        Ok::<_, Box<dyn std::error::Error>>(result?)
    });
    match result {
        Ok(value) => println!("{value:#}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
