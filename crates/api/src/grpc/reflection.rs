//! gRPC server reflection (v1 and v1alpha) over Qdrant's API and the health service, so tools
//! such as `grpcurl` list and call the services without local `.proto` files.

use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha::{
    ServerReflection as ServerReflectionAlpha, ServerReflectionServer as ServerReflectionAlphaServer,
};
use tonic_reflection::server::{Builder, Error};

/// The encoded descriptor set of Qdrant's public API (built by `build.rs`).
const QDRANT_DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/qdrant_descriptor.bin"));

fn builder() -> Builder<'static> {
    Builder::configure()
        .register_encoded_file_descriptor_set(QDRANT_DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The v1 and v1alpha reflection services.
#[allow(clippy::type_complexity)]
pub fn services() -> Result<
    (ServerReflectionServer<impl ServerReflection>, ServerReflectionAlphaServer<impl ServerReflectionAlpha>),
    Error,
> {
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn services_in_descriptor() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(QDRANT_DESCRIPTOR).expect("descriptor");
        let mut names: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| f.service.iter().map(move |s| format!("{}.{}", f.package(), s.name())))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn descriptor_names_the_served_services() {
        use qdrant_client::qdrant::{collections_server, points_server, qdrant_server, snapshots_server};
        let mut served = vec![
            collections_server::SERVICE_NAME,
            points_server::SERVICE_NAME,
            qdrant_server::SERVICE_NAME,
            snapshots_server::SERVICE_NAME,
        ];
        served.sort_unstable();
        assert_eq!(services_in_descriptor(), served);
        assert!(services().is_ok());
    }

    /// The copies in `proto/` are the `qdrant-client` crate's own (checked when the crate's
    /// source is in the local cargo registry, as it is after any build).
    #[test]
    fn proto_copies_match_the_crate() {
        let home = std::env::var("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
        let Ok(indexes) = std::fs::read_dir(home.join("registry").join("src")) else { return };
        let crate_dir =
            indexes.flatten().map(|index| index.path().join("qdrant-client-1.20.0").join("proto")).find(|p| p.is_dir());
        let Some(crate_dir) = crate_dir else { return };
        let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
        for entry in std::fs::read_dir(&ours).expect("proto dir").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "proto") {
                let theirs = crate_dir.join(entry.file_name());
                let same = std::fs::read(&path).ok() == std::fs::read(&theirs).ok();
                assert!(same, "{} differs from {}", path.display(), theirs.display());
            }
        }
    }
}
