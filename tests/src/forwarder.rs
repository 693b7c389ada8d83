//! A tiny loopback reverse proxy for tests: it accepts on 127.0.0.1, adds
//! `X-Forwarded-For: <client>` to the first request head of each connection
//! and then copies bytes both ways. With `gateway.trustedProxies:
//! ["127.0.0.1"]` a client that cannot add the header itself (the reference
//! CLI) then appears to the gateway as a remote client at `<client>`,
//! without the test ever leaving loopback.
#![allow(clippy::disallowed_methods)] // real sockets, real threads

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest request head the forwarder reads before giving up on a connection.
const MAX_HEAD: usize = 64 * 1024;

/// A running forwarder; stopped (listener closed) on drop. Connections
/// already forwarded end when either side closes.
pub struct Forwarder {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    /// Forward 127.0.0.1:<ephemeral> to 127.0.0.1:`upstream`, claiming every
    /// client is `client_ip`.
    pub fn start(upstream: u16, client_ip: &str) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
        let port = listener.local_addr().expect("forwarder addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let header = format!("X-Forwarded-For: {client_ip}\r\n");
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let header = header.clone();
                std::thread::spawn(move || {
                    let _ = forward(client, upstream, &header);
                });
            }
        });
        Forwarder { port, stop }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Read the first head from `client`, send it upstream with `header` added,
/// then pipe both directions until one side closes.
fn forward(mut client: TcpStream, upstream: u16, header: &str) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if head.len() > MAX_HEAD {
            return Ok(());
        }
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    };
    client.set_read_timeout(None)?;
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    // The head's last CRLF pair: insert the header between them.
    let mut out = Vec::with_capacity(head.len() + header.len());
    out.extend_from_slice(&head[..end + 2]);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&head[end + 2..]);
    server.write_all(&out)?;
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = upload.join();
    Ok(())
}
