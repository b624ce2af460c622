//! Container and pod metadata for the filters only userspace can decide (`containerName`,
//! `containerImage`, `podName`, ..., and the `container=ID` scope). The kernel tells which
//! cgroup an event came from; the cgroup's path names the container id (the runtimes' own
//! naming, as in `containers.bpf.c`); the runtime's state on disk names the rest:
//!
//! - docker: `/var/lib/docker/containers/<id>/config.v2.json` (name, image, labels);
//! - containerd (CRI and others): the OCI bundle
//!   `/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json`, whose
//!   annotations carry the CRI names;
//! - cri-o and podman (containers/storage): `.../overlay-containers/<id>/userdata/config.json`
//!   annotations and the `containers.json` index, under `/var/lib/containers/storage` and
//!   `/run/containers/storage`.
//!
//! All paths are read under `--host-root` (default `/`), for a loader running in a container
//! with the host's root mounted elsewhere. Lookups are cached per cgroup: cgroup ids are
//! never reused.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use schema::image::Image;
use serde_json::Value;

/// The scope filters' `event` (they apply to every event of the policy).
const SCOPE_EVENT: u32 = u32::MAX;

/// How often the cgroup tree may be walked again to find a cgroup id not seen before.
const RESCAN_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Containerd,
    Crio,
    Podman,
    /// A bare 64-hex-digit cgroup name (cgroupfs driver): any runtime.
    Unknown,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Unknown => "unknown runtime",
        }
    }
}

/// What the runtime says about one container. Empty strings are fields it does not record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_digest: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    /// The pod's sandbox ("pause") container rather than a workload container.
    pub sandbox: bool,
}

impl Container {
    /// The fields of `container_create` and `existing_container` from `container_image` on
    /// (argument index, value): what the runtime's state says.
    pub fn event_args(self) -> [(u8, schema::record::ArgValue); 7] {
        use schema::record::ArgValue::{Bool, Str};
        [
            (3, Str(self.image)),
            (4, Str(self.image_digest)),
            (5, Str(self.name)),
            (6, Str(self.pod_name)),
            (7, Str(self.pod_namespace)),
            (8, Str(self.pod_uid)),
            (9, Bool(self.sandbox)),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The cgroup is not (inside) a container's cgroup.
    NotContainer,
    /// A container cgroup whose runtime state was not found.
    Unknown {
        id: String,
        runtime: Runtime,
    },
    Found(Container),
}

/// The container a cgroup path belongs to: its innermost component that names a container
/// id, with the runtime that names cgroups that way. Conmon's own cgroups
/// (`crio-conmon-<id>`, `libpod-conmon-<id>`) are the runtime's, not the container's.
pub fn container_of_cgroup(path: &str) -> Option<(String, Runtime)> {
    let mut parent: Option<&str> = None;
    let mut found = None;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if let Some(id) = hex_id(part)
            && !part.contains("-conmon-")
        {
            let name = part.strip_suffix(".scope").unwrap_or(part);
            let runtime = if name.starts_with("docker-") || parent == Some("docker") {
                Runtime::Docker
            } else if name.starts_with("cri-containerd-") {
                Runtime::Containerd
            } else if name.starts_with("crio-") {
                Runtime::Crio
            } else if name.starts_with("libpod-") || parent == Some("libpod_parent") {
                Runtime::Podman
            } else {
                Runtime::Unknown
            };
            found = Some((id.to_owned(), runtime));
        }
        parent = Some(part);
    }
    found
}

/// The container of a running process, from any of its cgroups (/proc/PID/cgroup lists one
/// line per hierarchy: `id:controllers:path`).
fn pid_container(pid: u32) -> Option<(String, Runtime)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cgroups
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(container_of_cgroup)
}

/// The first run of 64 lowercase hex digits in a cgroup name.
pub(crate) fn hex_id(name: &str) -> Option<&str> {
    let bytes = name.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if !(b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
            start = i + 1;
        } else if i + 1 - start == 64 {
            return name.get(start..=i);
        }
    }
    None
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Under `root`, the path of an absolute host path.
fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn docker(root: &Path, id: &str) -> Option<Container> {
    let config = read_json(&under(
        root,
        &format!("/var/lib/docker/containers/{id}/config.v2.json"),
    ))?;
    let labels = config.pointer("/Config/Labels");
    let label = |k: &str| text(labels.and_then(|l| l.get(k)));
    Some(Container {
        id: id.to_owned(),
        name: text(config.get("Name")).trim_start_matches('/').to_owned(),
        image: text(config.pointer("/Config/Image")),
        image_digest: text(config.get("Image")),
        pod_name: label("io.kubernetes.pod.name"),
        pod_namespace: label("io.kubernetes.pod.namespace"),
        pod_uid: label("io.kubernetes.pod.uid"),
        sandbox: label("io.kubernetes.docker.type") == "podsandbox",
    })
}

/// An OCI bundle's annotations, read with the CRI keys of containerd and of cri-o.
fn from_annotations(id: &str, spec: &Value) -> Container {
    let a = spec.get("annotations");
    let get = |keys: &[&str]| {
        keys.iter()
            .map(|k| text(a.and_then(|a| a.get(*k))))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    };
    let kind = get(&[
        "io.kubernetes.cri.container-type",
        "io.kubernetes.cri-o.ContainerType",
    ]);
    Container {
        id: id.to_owned(),
        name: get(&[
            "io.kubernetes.cri.container-name",
            "io.kubernetes.container.name",
            "nerdctl/name",
        ]),
        image: get(&[
            "io.kubernetes.cri.image-name",
            "io.kubernetes.cri-o.ImageName",
        ]),
        image_digest: get(&["io.kubernetes.cri-o.ImageRef"]),
        pod_name: get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
        pod_namespace: get(&[
            "io.kubernetes.cri.sandbox-namespace",
            "io.kubernetes.pod.namespace",
        ]),
        pod_uid: get(&["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]),
        sandbox: kind == "sandbox",
    }
}

fn containerd(root: &Path, id: &str) -> Option<Container> {
    let tasks = under(root, "/run/containerd/io.containerd.runtime.v2.task");
    std::fs::read_dir(tasks)
        .ok()?
        .flatten()
        .find_map(|ns| read_json(&ns.path().join(id).join("config.json")))
        .map(|spec| from_annotations(id, &spec))
}

const STORAGE_ROOTS: [&str; 2] = ["/var/lib/containers/storage", "/run/containers/storage"];

/// containers/storage (cri-o, podman): the bundle's annotations, completed by the
/// `containers.json` index (podman records the name and image only there).
fn storage(root: &Path, id: &str) -> Option<Container> {
    let mut found: Option<Container> = None;
    for storage in STORAGE_ROOTS {
        let dir = under(root, storage).join("overlay-containers");
        let bundle = read_json(&dir.join(id).join("userdata/config.json"));
        let has_bundle = bundle.is_some();
        let mut container = match bundle {
            Some(spec) => from_annotations(id, &spec),
            None => Container {
                id: id.to_owned(),
                ..Container::default()
            },
        };
        let entry = read_json(&dir.join("containers.json")).and_then(|index| {
            index
                .as_array()?
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
                .cloned()
        });
        if let Some(entry) = &entry {
            let meta: Option<Value> = entry
                .get("metadata")
                .and_then(Value::as_str)
                .and_then(|m| serde_json::from_str(m).ok());
            let meta_text = |k: &str| text(meta.as_ref().and_then(|m| m.get(k)));
            if container.name.is_empty() {
                container.name = meta_text("name");
                if container.name.is_empty() {
                    container.name = text(entry.pointer("/names/0"));
                }
            }
            if container.image.is_empty() {
                container.image = meta_text("image-name");
            }
            if container.image_digest.is_empty() {
                container.image_digest = text(entry.get("image"));
            }
        }
        if has_bundle || entry.is_some() {
            found = Some(container);
            break;
        }
    }
    found
}

/// The runtime state of container `id`, trying the runtime its cgroup name points to first.
pub fn metadata(root: &Path, id: &str, runtime: Runtime) -> Option<Container> {
    let order: &[fn(&Path, &str) -> Option<Container>] = match runtime {
        Runtime::Docker => &[docker, containerd, storage],
        Runtime::Containerd => &[containerd, docker, storage],
        Runtime::Crio | Runtime::Podman => &[storage, containerd, docker],
        Runtime::Unknown => &[docker, containerd, storage],
    };
    order.iter().find_map(|f| f(root, id))
}

/// Resolves cgroup ids (the events' `cgroupId`) to containers, caching each answer.
pub struct Resolver {
    host_root: PathBuf,
    cgroup_root: Option<PathBuf>,
    /// Runtimes may keep containers in v1 hierarchies only: then a process's /proc entry is
    /// read when its v2 cgroup names no container (never needed on v2-only hosts).
    v1: bool,
    /// cgroup id (the directory's inode number on cgroup v2) -> path below the root.
    paths: HashMap<u64, String>,
    last_scan: Option<Instant>,
    by_cgroup: HashMap<u64, Option<(String, Runtime)>>,
    by_container: HashMap<String, Rc<Lookup>>,
    notes: Vec<String>,
    noted_outside: bool,
}

impl Resolver {
    pub fn new(host_root: &Path) -> Resolver {
        Resolver {
            host_root: host_root.to_path_buf(),
            cgroup_root: crate::cgroup_v2_root().map(Path::to_path_buf),
            v1: crate::cgroup_v1().is_some(),
            paths: HashMap::new(),
            last_scan: None,
            by_cgroup: HashMap::new(),
            by_container: HashMap::new(),
            notes: Vec::new(),
            noted_outside: false,
        }
    }

    fn scan(&mut self) {
        self.last_scan = Some(Instant::now());
        if let Some(root) = &self.cgroup_root {
            self.paths.extend(crate::cgroup_dirs(root));
        }
    }

    /// The container of an event: from its cgroup v2 id, else (hosts whose runtimes use cgroup
    /// v1 hierarchies) from the process's cgroups in /proc while it still runs.
    pub fn lookup(&mut self, cgroup_id: u64, pid: u32) -> Rc<Lookup> {
        let named = match self.by_cgroup.get(&cgroup_id) {
            Some(hit) => hit.clone(),
            None => {
                let (named, final_answer) = self.cgroup_container(cgroup_id);
                if final_answer {
                    self.by_cgroup.insert(cgroup_id, named.clone());
                }
                named
            }
        };
        let named = match named {
            None if self.v1 => pid_container(pid),
            named => named,
        };
        match named {
            Some((id, runtime)) => self.container(id, runtime),
            None => {
                if !self.noted_outside {
                    self.noted_outside = true;
                    self.notes.push("events from processes outside containers do not match filters on container metadata".to_owned());
                }
                Rc::new(Lookup::NotContainer)
            }
        }
    }

    /// The container a cgroup v2 id names, and whether that answer is final.
    fn cgroup_container(&mut self, cgroup_id: u64) -> (Option<(String, Runtime)>, bool) {
        let mut final_answer = true;
        if !self.paths.contains_key(&cgroup_id) {
            if self
                .last_scan
                .is_none_or(|t| t.elapsed() >= RESCAN_INTERVAL)
            {
                self.scan();
            } else {
                // Seen too soon after the last walk: answer for now, ask again later.
                final_answer = false;
            }
        }
        let named = self
            .paths
            .get(&cgroup_id)
            .and_then(|p| container_of_cgroup(p));
        (named, final_answer)
    }

    fn container(&mut self, id: String, runtime: Runtime) -> Rc<Lookup> {
        if let Some(hit) = self.by_container.get(&id) {
            return Rc::clone(hit);
        }
        let lookup = match metadata(&self.host_root, &id, runtime) {
            Some(c) => Lookup::Found(c),
            None => {
                self.notes.push(format!(
                    "container {id} ({}): no runtime state found under {}; its events do not match filters on container metadata",
                    runtime.name(),
                    self.host_root.display()
                ));
                Lookup::Unknown {
                    id: id.clone(),
                    runtime,
                }
            }
        };
        let lookup = Rc::new(lookup);
        self.by_container.insert(id, Rc::clone(&lookup));
        lookup
    }

    /// Whether a container is found per process rather than per cgroup id: hosts whose
    /// runtimes use cgroup v1 hierarchies (the v2 id then names no container).
    pub fn per_process(&self) -> bool {
        self.v1
    }

    /// Whether `lookup` gave a lasting answer for this cgroup id (a cgroup seen too soon
    /// after the last walk of the tree is looked up again later).
    pub fn is_final(&self, cgroup_id: u64) -> bool {
        self.by_cgroup.contains_key(&cgroup_id)
    }

    /// Where the runtimes' state is read (`--host-root`).
    pub fn host_root(&self) -> &Path {
        &self.host_root
    }

    /// Explanations gathered since the last call, each said once.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// The `container=ID` scope: the full id or a prefix of at least 12 digits (`docker ps`).
    ScopeId,
    Id,
    Name,
    Image,
    ImageDigest,
    PodName,
    PodNamespace,
    PodUid,
    PodSandbox,
}

impl Field {
    fn of(name: &str) -> Option<Field> {
        Some(match name {
            "container" => Field::ScopeId,
            "containerId" => Field::Id,
            "containerName" => Field::Name,
            "containerImage" => Field::Image,
            "containerImageDigest" => Field::ImageDigest,
            "podName" => Field::PodName,
            "podNamespace" => Field::PodNamespace,
            "podUid" => Field::PodUid,
            "podSandbox" => Field::PodSandbox,
            _ => return None,
        })
    }

    fn value(self, c: &Container) -> &str {
        match self {
            Field::ScopeId | Field::Id => &c.id,
            Field::Name => &c.name,
            Field::Image => &c.image,
            Field::ImageDigest => &c.image_digest,
            Field::PodName => &c.pod_name,
            Field::PodNamespace => &c.pod_namespace,
            Field::PodUid => &c.pod_uid,
            Field::PodSandbox => {
                if c.sandbox {
                    "true"
                } else {
                    "false"
                }
            }
        }
    }
}

/// A filter value as the compiler writes it: `x`, `x*`, `*x` or `*x*`.
fn matches(field: Field, pattern: &str, value: &str) -> bool {
    if field == Field::ScopeId {
        return value == pattern || (pattern.len() >= 12 && value.starts_with(pattern));
    }
    let lead = pattern.starts_with('*');
    let trail = pattern.len() > 1 && pattern.ends_with('*');
    let core = &pattern[usize::from(lead)..pattern.len() - usize::from(trail)];
    match (lead, trail) {
        (true, true) => value.contains(core),
        (false, true) => value.starts_with(core),
        (true, false) => value.ends_with(core),
        (false, false) => value == core,
    }
}

/// One field's tests in one policy's rule (or scope): `=` values are alternatives, `!=`
/// values are all excluded, as in the kernel's filters.
#[derive(Debug, Clone)]
struct FieldTest {
    field: Field,
    eq: Vec<String>,
    ne: Vec<String>,
}

impl FieldTest {
    fn passes(&self, c: &Container) -> bool {
        let v = self.field.value(c);
        (self.eq.is_empty() || self.eq.iter().any(|p| matches(self.field, p, v)))
            && !self.ne.iter().any(|p| matches(self.field, p, v))
    }
}

/// The image's userspace filters, arranged for one check per event.
#[derive(Debug, Default)]
pub struct MetadataFilters {
    /// (policy, event or SCOPE_EVENT) -> tests, all of which must pass.
    tests: HashMap<(u8, u32), Vec<FieldTest>>,
    /// Policies with tests for this event (rule tests) ...
    by_event: HashMap<u32, u64>,
    /// ... and policies with scope tests (every event).
    scope: u64,
    /// Filters this loader does not know how to decide (an image from a newer compiler):
    /// their policies never match, as the compiler's `inspect` warns.
    pub unknown_fields: HashSet<String>,
}

impl MetadataFilters {
    pub fn new(image: &Image) -> MetadataFilters {
        let mut f = MetadataFilters::default();
        for filter in &image.meta.userspace_filters {
            if filter.policy >= 64 {
                continue;
            }
            let bit = 1u64 << filter.policy;
            if filter.event == SCOPE_EVENT {
                f.scope |= bit;
            } else {
                *f.by_event.entry(filter.event).or_default() |= bit;
            }
            let tests = f.tests.entry((filter.policy, filter.event)).or_default();
            let Some(field) = Field::of(&filter.field) else {
                f.unknown_fields.insert(filter.field.clone());
                // A test nothing passes.
                tests.push(FieldTest {
                    field: Field::Id,
                    eq: vec![String::new()],
                    ne: vec![String::new()],
                });
                continue;
            };
            let at = match tests.iter().position(|t| t.field == field) {
                Some(at) => at,
                None => {
                    tests.push(FieldTest {
                        field,
                        eq: Vec::new(),
                        ne: Vec::new(),
                    });
                    tests.len() - 1
                }
            };
            let values = filter.values.iter().cloned();
            match filter.op.as_str() {
                "!=" => tests[at].ne.extend(values),
                _ => tests[at].eq.extend(values),
            }
        }
        f
    }

    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// The policies among `matched` whose decision needs container metadata for `event`.
    pub fn needs(&self, event: u32, matched: u64) -> u64 {
        (self.scope | self.by_event.get(&event).copied().unwrap_or(0)) & matched
    }

    /// The policies among `candidates` (from `needs`) that the event's container passes.
    pub fn decide(&self, event: u32, candidates: u64, lookup: &Lookup) -> u64 {
        let Lookup::Found(container) = lookup else {
            return 0;
        };
        let mut passed = 0;
        let mut rest = candidates;
        while rest != 0 {
            let policy = rest.trailing_zeros() as u8;
            rest &= rest - 1;
            let pass = [event, SCOPE_EVENT].iter().all(|e| {
                self.tests
                    .get(&(policy, *e))
                    .is_none_or(|tests| tests.iter().all(|t| t.passes(container)))
            });
            if pass {
                passed |= 1 << policy;
            }
        }
        passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn cgroup_paths_name_the_runtime() {
        let cases = [
            (
                format!("/system.slice/docker-{ID}.scope"),
                Some(Runtime::Docker),
            ),
            (format!("/docker/{ID}"), Some(Runtime::Docker)),
            (
                format!("/kubepods.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope"),
                Some(Runtime::Containerd),
            ),
            (
                format!("/kubepods.slice/crio-{ID}.scope"),
                Some(Runtime::Crio),
            ),
            (
                format!("/machine.slice/libpod-{ID}.scope"),
                Some(Runtime::Podman),
            ),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                Some(Runtime::Podman),
            ),
            (
                format!("/kubepods/besteffort/pod1/{ID}"),
                Some(Runtime::Unknown),
            ),
            (format!("/machine.slice/libpod-conmon-{ID}.scope"), None),
            ("/user.slice/user-0.slice/session-1.scope".to_owned(), None),
            (format!("/docker-{}.scope", &ID[..63]), None),
        ];
        for (path, runtime) in cases {
            assert_eq!(
                container_of_cgroup(&path).map(|(id, r)| {
                    assert_eq!(id, ID);
                    r
                }),
                runtime,
                "{path}"
            );
        }
    }

    fn write(root: &Path, path: &str, json: &str) {
        let path = under(root, path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&path, json) {
            panic!("write {}: {e}", path.display());
        }
    }

    /// cri-o: the bundle's annotations; podman: only the containers.json index (its
    /// `metadata` is a JSON document in a string).
    #[test]
    fn containers_storage_state_is_read_for_crio_and_podman() {
        let root = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let crio = ID.replace('0', "c");
        write(
            root.path(),
            &format!("/run/containers/storage/overlay-containers/{crio}/userdata/config.json"),
            r#"{"annotations": {"io.kubernetes.container.name": "api", "io.kubernetes.cri-o.ImageName": "quay.io/x/api:2", "io.kubernetes.pod.name": "api-7d9", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.uid": "u-1", "io.kubernetes.cri-o.ContainerType": "container"}}"#,
        );
        let found = metadata(root.path(), &crio, Runtime::Crio);
        assert_eq!(
            found,
            Some(Container {
                id: crio.clone(),
                name: "api".to_owned(),
                image: "quay.io/x/api:2".to_owned(),
                image_digest: String::new(),
                pod_name: "api-7d9".to_owned(),
                pod_namespace: "shop".to_owned(),
                pod_uid: "u-1".to_owned(),
                sandbox: false,
            })
        );
        let podman = ID.replace('0', "d");
        write(
            root.path(),
            "/var/lib/containers/storage/overlay-containers/containers.json",
            &format!(
                r#"[{{"id": "{podman}", "names": ["web"], "image": "sha256:feed", "metadata": "{{\"image-name\":\"docker.io/library/nginx:latest\",\"name\":\"web\"}}"}}]"#
            ),
        );
        let found = metadata(root.path(), &podman, Runtime::Podman);
        assert_eq!(
            found.map(|c| (c.name, c.image, c.image_digest)),
            Some((
                "web".to_owned(),
                "docker.io/library/nginx:latest".to_owned(),
                "sha256:feed".to_owned()
            ))
        );
        assert_eq!(metadata(root.path(), ID, Runtime::Unknown), None);
    }

    #[test]
    fn patterns_follow_the_compiler_spelling() {
        assert!(matches(Field::Name, "web", "web"));
        assert!(!matches(Field::Name, "web", "web2"));
        assert!(matches(Field::Name, "web*", "web2"));
        assert!(matches(Field::Name, "*eb", "web"));
        assert!(matches(Field::Name, "*e*", "web"));
        assert!(!matches(Field::Name, "*x*", "web"));
        assert!(matches(Field::ScopeId, &ID[..12], ID));
        assert!(!matches(Field::ScopeId, &ID[..11], ID));
        assert!(matches(Field::ScopeId, ID, ID));
    }
}
