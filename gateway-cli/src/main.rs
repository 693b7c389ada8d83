mod client;

fn main() {
    // Temporary dispatch until the gateway command tree is merged in.
    std::process::exit(client::tree::main());
}
