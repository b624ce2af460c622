//! Other forms of the map image: a Kubernetes ConfigMap carrying it as `binaryData`, so a CI
//! job can `kubectl apply` what it compiled and every node's tracee-load reads the same bytes
//! from the mounted volume (`deploy/`, docs/kubernetes.md).

use base64::Engine as _;

/// The largest ConfigMap the API server stores (its data and binaryData together).
pub const CONFIGMAP_MAX_BYTES: usize = 1 << 20;

/// The key of the image in the ConfigMap's `binaryData`: the file name in the mounted volume.
pub const CONFIGMAP_KEY: &str = "rules.bin";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmitError {
    #[error(
        "`{0}` is not a valid Kubernetes name: lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters"
    )]
    BadName(String),
    #[error(
        "the image takes {0} bytes in base64, over the {CONFIGMAP_MAX_BYTES} bytes a ConfigMap may hold: split the policies, or ship the image as a file"
    )]
    TooLarge(usize),
}

fn valid_name(name: &str) -> bool {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|c| ok(c) || c == b'-' || c == b'.')
        && name.bytes().next().is_some_and(ok)
        && name.bytes().last().is_some_and(ok)
}

/// The image as a ConfigMap manifest (YAML): `binaryData.rules.bin`, labelled for the
/// DaemonSet, with the policies it holds and its checksum as annotations (a rollout shows
/// which rules a node runs).
pub fn configmap(
    image: &[u8],
    name: &str,
    namespace: &str,
    policies: &[String],
) -> Result<String, EmitError> {
    for n in [name, namespace] {
        if !valid_name(n) {
            return Err(EmitError::BadName(n.to_owned()));
        }
    }
    let data = base64::engine::general_purpose::STANDARD.encode(image);
    if data.len() > CONFIGMAP_MAX_BYTES {
        return Err(EmitError::TooLarge(data.len()));
    }
    let checksum = schema::abi::fnv1a(schema::abi::FNV_OFFSET, image);
    // Policy names are DNS-1123 subdomains (E201): safe inside a plain YAML scalar.
    let names = policies.join(",");
    Ok(format!(
        "# Written by tracee-compile: the map image for tracee-load (kubectl apply -f this file).\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    app.kubernetes.io/name: tracee-load\n    app.kubernetes.io/component: rules\n  annotations:\n    tracee-compile/policies: \"{names}\"\n    tracee-compile/image-fnv1a64: \"{checksum:016x}\"\n\
         binaryData:\n  {CONFIGMAP_KEY}: {data}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_size_is_bounded() {
        assert!(configmap(b"x", "tracee-rules", "tracee", &[]).is_ok());
        assert_eq!(
            configmap(b"x", "Tracee", "tracee", &[]),
            Err(EmitError::BadName("Tracee".to_owned()))
        );
        assert!(matches!(
            configmap(&vec![0; CONFIGMAP_MAX_BYTES], "a", "b", &[]),
            Err(EmitError::TooLarge(_))
        ));
    }
}
