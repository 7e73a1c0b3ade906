//! Compiles `proto/p2p.proto` with `protox` (pure Rust; no `protoc` binary needed) and generates the tonic
//! client and server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/p2p.proto");
    let fds = protox::compile(["proto/p2p.proto"], ["proto"])?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
