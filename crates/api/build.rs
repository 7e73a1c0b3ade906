//! Builds the file descriptor set that gRPC server reflection serves, with `protox` (pure Rust),
//! from the `.proto` files of the `qdrant-client` release the server traits come from (copied in
//! `proto/`, Apache-2.0; a test checks they are the crate's own). The wire types themselves are
//! the crate's generated code, not generated here.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/qdrant.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("qdrant_descriptor.bin");
    std::fs::write(out, fds.encode_to_vec())?;
    Ok(())
}
