//! The seed's sine-wave example against the library: create a sandbox with 512 MiB and 30 s,
//! run the numpy + matplotlib code, print its output and the size of the PNG it saved.
//!
//! `cargo run --release -p soulbox --example sine_wave` (the Python runtime is fetched on first use).

use std::time::Duration;

use soulbox::{Language, MIB, SandboxConfig, SoulBox};

const CODE: &str = r#"
import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 10, 100)
y = np.sin(x)
plt.plot(x, y)
plt.title("Sine Wave")
plt.savefig('sine_wave.png')
print("Plot saved!")
"#;

#[tokio::main]
async fn main() -> soulbox::Result<()> {
    let sandbox = SoulBox::create(
        SandboxConfig::default()
            .with_memory_limit(512 * MIB)
            .with_timeout(Duration::from_secs(30)),
    )
    .await?;
    let result = sandbox.execute_code(Language::Python, CODE).await?;
    print!("{}", result.stdout);
    eprint!("{}", result.stderr);
    if let Some(plot) = result
        .artifacts
        .iter()
        .find(|a| a.path.ends_with("sine_wave.png"))
    {
        println!("{} ({}, {} bytes)", plot.path, plot.mime_type, plot.size);
    } else {
        println!("no plot was saved (status {})", result.status);
    }
    sandbox.terminate().await;
    Ok(())
}
