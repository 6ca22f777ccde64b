//! Generates the prost messages and tonic client/server stubs from `proto/` with the
//! system `protoc` (Debian `protobuf-compiler`, installed by `./x setup`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/lp_rpc.proto", "proto/redeemer.proto"], &["proto"])?;
    Ok(())
}
