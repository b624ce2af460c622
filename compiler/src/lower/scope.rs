//! Scope entries -> `scope_config`, the scope equality maps and `scope_ranges`.

use bytemuck::bytes_of;
use schema::abi::{self, RangeEntry};

use super::*;
use crate::ir::{Filter, MountNs, Op, Policy, ScopeKey, StrMatch, Value};

/// Hooks the scope needs whatever the rules select.
pub(super) struct Hooks {
    /// `tree`/`follow`: processes are learned at fork and forgotten at exit.
    pub(super) lineage: bool,
    /// `executable`: binaries are recorded at exec and inherited at fork.
    pub(super) executables: bool,
    /// `container`/`not-container`: container cgroups are learned as they are created.
    pub(super) containers: bool,
    /// `follow`: processes already running when the loader starts are examined once.
    pub(super) follow: bool,
}

pub(super) fn lower_scope(
    policies: &[Policy],
    cx: &mut Ctx,
    userspace: &mut Vec<UserspaceFilter>,
) -> (Vec<MapContents>, Hooks) {
    use abi::{scope_bool as b, scope_dim as d};
    let mut config: abi::ScopeConfig = bytemuck::Zeroable::zeroed();
    let mut dims: Vec<DimState> = (0..d::COUNT).map(|_| DimState::new()).collect();
    for policy in policies {
        let bit = bit(policy);
        let mut bools: [Option<bool>; b::COUNT] = [None; b::COUNT];
        let mut contradiction = false;
        let mut want = |dim: usize, value: bool, bools: &mut [Option<bool>; b::COUNT]| {
            if bools[dim].is_some_and(|v| v != value) {
                contradiction = true;
            }
            bools[dim] = Some(value);
        };
        let of = |key: ScopeKey| policy.scope.iter().filter(move |f| f.key == key);
        let values = |key: ScopeKey| of(key).flat_map(|f| f.values.iter().map(move |v| (f.op, v)));
        for (key, dim, signed_bits) in [
            (ScopeKey::Uid, d::UID, 32),
            (ScopeKey::Pid, d::PID, 32),
            (ScopeKey::MntNs, d::MNTNS, 64),
            (ScopeKey::PidNs, d::PIDNS, 64),
            (ScopeKey::Tree, d::TREE, 32),
        ] {
            let ints: Vec<(Op, &Value)> = values(key)
                .filter(|(_, v)| matches!(v, Value::Int(_)))
                .collect();
            if ints.is_empty() {
                continue;
            }
            let set = numeric_set(ints.into_iter());
            let width = if signed_bits == 32 { 4 } else { 8 };
            let max = if signed_bits == 32 {
                i128::from(u32::MAX)
            } else {
                i128::from(u64::MAX)
            };
            dims[dim].add_numeric(&set, bit, false, (0, max), |v| {
                raw_int(v).to_le_bytes()[..width].to_vec()
            });
        }
        for (op, value) in values(ScopeKey::Pid) {
            if *value == Value::New {
                want(b::NEW_PID, op == Op::Eq, &mut bools);
            }
        }
        for (key, dim, len) in [
            (ScopeKey::Uts, d::UTS, abi::UTS_LEN),
            (ScopeKey::Comm, d::COMM, abi::COMM_LEN),
        ] {
            let strs: Vec<(Op, &Value)> = values(key).collect();
            if strs.is_empty() {
                continue;
            }
            let state = &mut dims[dim];
            state.enabled |= bit;
            let mut has_eq = false;
            for (op, value) in strs {
                let Value::Str(StrMatch::Exact(s)) = value else {
                    continue;
                };
                has_eq |= op == Op::Eq;
                // Longer than the kernel keeps: can never be equal, so no entry (W301 said so).
                if s.len() < len {
                    let mut key = vec![0u8; len];
                    key[..s.len()].copy_from_slice(s.as_bytes());
                    state.eq.add(key, op, bit);
                }
            }
            if !has_eq {
                state.match_missing |= bit;
            }
        }
        let exes: Vec<&Filter<ScopeKey>> = of(ScopeKey::Executable).collect();
        if !exes.is_empty() {
            let state = &mut dims[d::EXE];
            state.enabled |= bit;
            let mut has_eq = false;
            for filter in exes {
                for value in &filter.values {
                    let Value::Executable { mount_ns, path } = value else {
                        continue;
                    };
                    if path.len() >= abi::PATH_MAX {
                        cx.limit(
                            policy,
                            &filter.span,
                            format!(
                                "executable path is {} bytes; the kernel map holds at most {}",
                                path.len(),
                                abi::PATH_MAX - 1
                            ),
                            "use a shorter path (a symlink, or the directory holding the binary)",
                        );
                        continue;
                    }
                    has_eq |= filter.op == Op::Eq;
                    let key = abi::ScopeExeKey {
                        mount_ns: match mount_ns {
                            MountNs::Any => 0,
                            MountNs::Host => 1,
                            MountNs::Id(id) => u64::from(*id),
                        },
                        path: abi::fixed(path.as_bytes()),
                    };
                    state.eq.add(bytes_of(&key).to_vec(), filter.op, bit);
                }
            }
            if !has_eq {
                state.match_missing |= bit;
            }
        }
        for filter in of(ScopeKey::Container) {
            let positive = filter.op == Op::Eq;
            if filter.values.is_empty() {
                want(b::IN_CONTAINER, true, &mut bools);
            }
            for value in &filter.values {
                match value {
                    Value::New => want(b::NEW_CONTAINER, positive, &mut bools),
                    Value::Started => want(b::CONTAINER_STARTED, positive, &mut bools),
                    Value::Str(StrMatch::Exact(id)) => {
                        if positive {
                            want(b::IN_CONTAINER, true, &mut bools);
                        }
                        userspace.push(UserspaceFilter {
                            policy: policy.id,
                            event: None,
                            field: "container".to_owned(),
                            op: filter.op,
                            values: vec![id.clone()],
                            reason: "container ids are resolved by the container runtime, not in the kernel",
                        });
                    }
                    _ => {}
                }
            }
        }
        if of(ScopeKey::NotContainer).next().is_some() {
            want(b::IN_CONTAINER, false, &mut bools);
        }
        if of(ScopeKey::Follow).next().is_some() {
            config.follow |= bit;
        }
        for (dim, value) in bools.iter().enumerate() {
            if let Some(value) = value {
                config.bool_enabled[dim] |= bit;
                if *value {
                    config.bool_expect[dim] |= bit;
                }
            }
        }
        // A scope that contradicts itself (`container` and `not-container`) selects nothing.
        if !contradiction {
            config.policies |= bit;
        }
    }
    let mut ranges: Vec<RangeEntry> = Vec::new();
    let mut maps = Vec::new();
    for (dim, state) in dims.into_iter().enumerate() {
        config.eq_enabled[dim] = state.enabled;
        config.eq_match_missing[dim] = state.match_missing;
        config.ranged[dim] = state.ranged;
        if state.ranged != 0 {
            let table = range_table(&state.bounds);
            config.range_first[dim] = ranges.len() as u32;
            config.range_count[dim] = table.len() as u32;
            ranges.extend(table);
        }
        let entries = eq_entries(state.eq);
        maps.push(match dim {
            d::UID => hash_map::<u32>("scope_uid", entries, 0),
            d::PID => hash_map::<u32>("scope_pid", entries, 0),
            d::MNTNS => hash_map::<u64>("scope_mntns", entries, 0),
            d::PIDNS => hash_map::<u64>("scope_pidns", entries, 0),
            d::UTS => hash_map::<[u8; abi::UTS_LEN]>("scope_uts", entries, 0),
            d::COMM => hash_map::<[u8; abi::COMM_LEN]>("scope_comm", entries, 0),
            d::TREE => {
                let extra = if state.enabled != 0 {
                    TREE_RUNTIME_ENTRIES
                } else {
                    0
                };
                hash_map::<u32>("scope_tree", entries, extra)
            }
            _ => hash_map::<abi::ScopeExeKey>("scope_exe", entries, 0),
        });
    }
    maps.push(array_map("scope_ranges", &ranges));
    maps.insert(0, array_map("scope_config", &[config]));
    let lineage = config.follow != 0 || config.eq_enabled[d::TREE] != 0;
    let executables = config.eq_enabled[d::EXE] != 0;
    let containers = config.bool_enabled[b::IN_CONTAINER] != 0;
    (
        maps,
        Hooks {
            lineage,
            executables,
            containers,
            follow: config.follow != 0,
        },
    )
}
