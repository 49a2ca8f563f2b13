//! The seed's sine-wave example through a SoulBox server: connect, create a sandbox with 512 MiB
//! and 30 s, run the numpy + matplotlib code, download the PNG it saved.
//!
//! ```sh
//! soulbox serve &                                   # prints where its token is
//! export SOULBOX_TOKEN=$(cat "$SOULBOX_HOME/server-token")
//! cargo run -p soulbox-client --example remote      # or: -- http://host:7070
//! ```

use std::time::Duration;

use soulbox_api::{Language, MIB, SandboxConfig};
use soulbox_client::Client;

const CODE: &str = include_str!("sine_wave.py");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:7070".to_owned());
    let token = std::env::var("SOULBOX_TOKEN")
        .map_err(|_| "set SOULBOX_TOKEN to the server's token (see `soulbox serve`'s output)")?;
    let client = Client::connect(&url).token(token).await?;
    let sandbox = client
        .create(
            SandboxConfig::default()
                .with_memory_limit(512 * MIB)
                .with_timeout(Duration::from_secs(30)),
        )
        .await?;
    let result = sandbox.execute_code(Language::Python, CODE).await?;
    print!("{}", result.stdout);
    eprint!("{}", result.stderr);
    match result.artifact("sine_wave.png") {
        Some(plot) => {
            let png = sandbox.read_file(&plot.path).await?;
            std::fs::write("sine_wave.png", &png)?;
            println!(
                "{} ({}, {} bytes) downloaded to ./sine_wave.png",
                plot.path,
                plot.mime_type,
                png.len()
            );
        }
        None => println!("no plot was saved (status {})", result.status),
    }
    sandbox.terminate().await?;
    Ok(())
}
