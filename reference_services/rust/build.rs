//! Generates the conformance.v1 server and client from the suite's single copy of
//! the control contract. Generated code lands in OUT_DIR and is never committed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest.join("../../conformance/proto");
    let proto = proto_dir.join("conformance_v1.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&[proto], &[proto_dir])?;
    Ok(())
}
