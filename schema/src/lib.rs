//! The contract between `tracee-compile` and `tracee-load`: the event catalog (which events
//! exist and what arguments they carry), the JSON Schema of policy files, the image format,
//! and the one way both tools open the files users name (`input`). No kernel.

pub mod abi;
pub mod catalog;
pub mod eval;
pub mod hooks;
pub mod image;
pub mod input;
pub mod record;

/// JSON Schema (draft 2020-12) of one policy document, in all three accepted forms.
/// Editors' YAML language servers can use the file `schema/policy.schema.json` directly.
/// The version the tools print: the package version and the commit built (`0.1.0 (commit
/// 1a2b3c4d5e6f)`).
pub const VERSION: &str = env!("TRACEE_VERSION");

pub const POLICY_JSON_SCHEMA: &str = include_str!("../policy.schema.json");
