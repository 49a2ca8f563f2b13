//! Compiles `soulbox/v1/*.proto` with protox (pure Rust: no `protoc` to install) and generates
//! the prost messages plus tonic's clients and servers from the descriptor set, which is also
//! written out for the server's reflection service.

use std::path::PathBuf;

const PROTOS: [&str; 2] = ["soulbox/v1/types.proto", "soulbox/v1/soulbox.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("soulbox_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
