//! Compiles the published `.proto` with protox, so a build needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = "../schemas";
    let file = "murron/ingest/v1/ingest.proto";
    println!("cargo:rerun-if-changed={root}/{file}");
    let descriptors = protox::compile([file], [root])?;
    let client = std::env::var_os("CARGO_FEATURE_CLIENT").is_some();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        // `connect()` needs tonic's Channel; without the feature the client is generic over any service.
        .build_transport(client)
        // Events as `Bytes`: the server slices them out of the request without copying.
        .bytes(".murron.ingest.v1.PublishRequest.events")
        .compile_fds(descriptors)?;
    Ok(())
}
