//! Lowering: every scope key, context field, argument type, wildcard form, numeric operator
//! and `retval` form becomes the exact map entries the kernel evaluates. Entries are read
//! back from the bytes and compared field by field.

use bytemuck::{Pod, bytes_of, pod_read_unaligned};
use compiler::lower::{Lowered, MapContents};
use schema::abi::{self, EqBits, RangeEntry, context_field as cf, scope_bool as b, scope_dim as d};

fn lowered(text: &str) -> Lowered {
    let checked = compiler::check_text("lower.yaml", text);
    assert_eq!(
        checked.diagnostics.error_count(),
        0,
        "{}",
        checked.render_plain(100)
    );
    match checked.lowered {
        Some(l) => l,
        None => panic!("nothing lowered"),
    }
}

fn map<'a>(l: &'a Lowered, name: &str) -> &'a MapContents {
    match l.map(name) {
        Some(m) => m,
        None => panic!("no map {name}"),
    }
}

fn eq_of<K: Pod>(l: &Lowered, name: &str, key: &K) -> Option<EqBits> {
    map(l, name)
        .entries
        .get(bytes_of(key))
        .map(|v| pod_read_unaligned(v))
}

fn array<V: Pod>(l: &Lowered, name: &str) -> Vec<V> {
    map(l, name)
        .entries
        .values()
        .map(|v| pod_read_unaligned(v))
        .collect()
}

fn scope_config(l: &Lowered) -> abi::ScopeConfig {
    array::<abi::ScopeConfig>(l, "scope_config")[0]
}

fn policy(name: &str, scope: &[&str], rules: &str) -> String {
    let scope: String = scope.iter().map(|s| format!("  - '{s}'\n")).collect();
    format!("type: policy\nname: {name}\ndescription: d\nscope:\n{scope}rules:\n{rules}")
}

const CLOSE: &str = "  - event: close\n";

fn eq(eq: u64, ne: u64) -> Option<EqBits> {
    Some(EqBits { eq, ne })
}

#[test]
fn scope_uid_equalities_set_eq_and_ne_bits_per_policy() {
    let text = [
        policy("a", &["uid=0,1000"], CLOSE),
        policy("b", &["uid!=0"], CLOSE),
    ]
    .join("---\n");
    let l = lowered(&text);
    assert_eq!(eq_of(&l, "scope_uid", &0u32), eq(0b01, 0b10));
    assert_eq!(eq_of(&l, "scope_uid", &1000u32), eq(0b01, 0));
    assert_eq!(map(&l, "scope_uid").entries.len(), 2);
    let c = scope_config(&l);
    assert_eq!(c.policies, 0b11);
    assert_eq!(c.eq_enabled[d::UID], 0b11);
    // Only `b` (no `=` values) matches a uid missing from the map.
    assert_eq!(c.eq_match_missing[d::UID], 0b10);
    assert_eq!(c.ranged[d::UID], 0);
}

#[test]
fn mixed_equality_keeps_both_kinds_and_the_default() {
    let l = lowered(&policy("a", &["comm=bash", "comm!=zsh"], CLOSE));
    assert_eq!(
        eq_of(&l, "scope_comm", &abi::fixed::<16>(b"bash")),
        eq(1, 0)
    );
    assert_eq!(eq_of(&l, "scope_comm", &abi::fixed::<16>(b"zsh")), eq(0, 1));
    // A policy with `=` values does not match missing values, whatever its `!=`s.
    assert_eq!(scope_config(&l).eq_match_missing[d::COMM], 0);
}

#[test]
fn per_policy_ranges_become_one_interval_table() {
    let text = [
        policy("a", &["uid>=1000", "uid<2000"], CLOSE),
        policy("b", &["uid>1500"], CLOSE),
        policy("c", &["uid<=10", "uid=5000"], CLOSE),
    ]
    .join("---\n");
    let l = lowered(&text);
    let c = scope_config(&l);
    assert_eq!(c.ranged[d::UID], 0b111);
    let table: Vec<(u64, u64)> = array::<RangeEntry>(&l, "scope_ranges")
        .iter()
        .skip(c.range_first[d::UID] as usize)
        .take(c.range_count[d::UID] as usize)
        .map(|r| (r.start, r.bits))
        .collect();
    assert_eq!(
        table,
        vec![
            (0, 0b100),
            (11, 0),
            (1000, 0b001),
            (1501, 0b011),
            (2000, 0b010)
        ]
    );
    // `uid=5000` is still an equality of `c`, outside its range.
    assert_eq!(eq_of(&l, "scope_uid", &5000u32), eq(0b100, 0));
}

#[test]
fn empty_ranges_leave_no_bits() {
    let checked = compiler::check_text("r.yaml", &policy("a", &["uid>1000", "uid<1001"], CLOSE));
    let Some(l) = checked.lowered else {
        panic!("not lowered")
    };
    let c = scope_config(&l);
    assert_eq!(c.ranged[d::UID], 1);
    let table = array::<RangeEntry>(&l, "scope_ranges");
    assert!(table.iter().all(|r| r.bits == 0), "{table:?}");
}

#[test]
fn every_numeric_scope_key_has_its_map_and_width() {
    let l = lowered(&policy(
        "a",
        &["pid=42", "mntns=4026531840", "pidns!=4026531836", "tree=7"],
        CLOSE,
    ));
    assert_eq!(eq_of(&l, "scope_pid", &42u32), eq(1, 0));
    assert_eq!(eq_of(&l, "scope_mntns", &4026531840u64), eq(1, 0));
    assert_eq!(eq_of(&l, "scope_pidns", &4026531836u64), eq(0, 1));
    assert_eq!(eq_of(&l, "scope_tree", &7u32), eq(1, 0));
    assert_eq!(map(&l, "scope_mntns").key_size, 8);
    assert_eq!(map(&l, "scope_pid").key_size, 4);
    // The kernel adds every descendant of a tree root at fork: the map has room for them.
    assert_eq!(
        map(&l, "scope_tree").max_entries,
        1 + compiler::lower::TREE_RUNTIME_ENTRIES
    );
    let c = scope_config(&l);
    for dim in [d::PID, d::MNTNS, d::PIDNS, d::TREE] {
        assert_eq!(c.eq_enabled[dim], 1, "dim {dim}");
    }
    assert_eq!(c.eq_match_missing[d::PIDNS], 1);
}

#[test]
fn string_scope_keys_use_fixed_kernel_buffers() {
    let l = lowered(&policy("a", &["uts=web-1", "comm=bash"], CLOSE));
    assert_eq!(
        eq_of(&l, "scope_uts", &abi::fixed::<65>(b"web-1")),
        eq(1, 0)
    );
    assert_eq!(map(&l, "scope_uts").key_size, 65);
    assert_eq!(map(&l, "scope_comm").key_size, 16);
}

#[test]
fn executables_key_on_mount_namespace_and_path() {
    let l = lowered(&policy(
        "a",
        &[
            "exec=/bin/sh",
            "exec=host:/usr/bin/id",
            "exec=4026531840:/x",
            "exec!=/bin/ls",
        ],
        CLOSE,
    ));
    let key = |ns: u64, path: &[u8]| abi::ScopeExeKey {
        mount_ns: ns,
        path: abi::fixed(path),
    };
    assert_eq!(eq_of(&l, "scope_exe", &key(0, b"/bin/sh")), eq(1, 0));
    assert_eq!(eq_of(&l, "scope_exe", &key(1, b"/usr/bin/id")), eq(1, 0));
    assert_eq!(eq_of(&l, "scope_exe", &key(4026531840, b"/x")), eq(1, 0));
    assert_eq!(eq_of(&l, "scope_exe", &key(0, b"/bin/ls")), eq(0, 1));
}

#[test]
fn boolean_scope_conditions_and_follow() {
    let text = [
        policy("a", &["container", "follow"], CLOSE),
        policy("b", &["not-container"], CLOSE),
        policy("c", &["pid=new", "container=new"], CLOSE),
        policy("d", &["pid!=new", "container=started"], CLOSE),
    ]
    .join("---\n");
    let c = scope_config(&lowered(&text));
    assert_eq!(c.bool_enabled[b::IN_CONTAINER], 0b0011);
    assert_eq!(c.bool_expect[b::IN_CONTAINER], 0b0001);
    assert_eq!(c.bool_enabled[b::NEW_PID], 0b1100);
    assert_eq!(c.bool_expect[b::NEW_PID], 0b0100);
    assert_eq!(c.bool_enabled[b::NEW_CONTAINER], 0b0100);
    assert_eq!(c.bool_expect[b::NEW_CONTAINER], 0b0100);
    assert_eq!(
        (
            c.bool_enabled[b::CONTAINER_STARTED],
            c.bool_expect[b::CONTAINER_STARTED]
        ),
        (0b1000, 0b1000)
    );
    assert_eq!(c.follow, 0b0001);
    assert_eq!(c.policies, 0b1111);
}

#[test]
fn contradictory_scope_disables_the_policy() {
    let checked = compiler::check_text(
        "c.yaml",
        &policy("a", &["container", "not-container"], CLOSE),
    );
    let Some(l) = checked.lowered else {
        panic!("not lowered")
    };
    assert_eq!(scope_config(&l).policies, 0);
}

#[test]
fn container_ids_are_left_to_userspace() {
    let l = lowered(&policy("a", &["container=abc123"], CLOSE));
    assert_eq!(l.userspace.len(), 1);
    assert_eq!(l.userspace[0].field, "container");
    assert_eq!(l.userspace[0].event, None);
    assert_eq!(l.userspace[0].values, vec!["abc123".to_owned()]);
    let c = scope_config(&l);
    assert_eq!(
        (
            c.bool_enabled[b::IN_CONTAINER],
            c.bool_expect[b::IN_CONTAINER]
        ),
        (1, 1)
    );
}

fn field(l: &Lowered, event: u32, field: u16) -> abi::FieldConfig {
    match map(l, "rule_fields").entries.get(bytes_of(&abi::FieldKey {
        event,
        field,
        pad: 0,
    })) {
        Some(v) => pod_read_unaligned(v),
        None => panic!("no field {field} for event {event}"),
    }
}

fn event_config(l: &Lowered, id: u32) -> abi::EventConfig {
    match map(l, "events").entries.get(id.to_le_bytes().as_slice()) {
        Some(v) => pod_read_unaligned(v),
        None => panic!("no event {id}"),
    }
}

fn int_key(event: u32, field: u16, value: u64) -> abi::IntKey {
    abi::IntKey {
        event,
        field,
        pad: 0,
        value,
    }
}

#[test]
fn events_list_their_policies_and_filtered_fields() {
    let text = [
        policy(
            "a",
            &["global"],
            "  - event: openat\n    filters: [args.dirfd=-100, retval<0]\n  - event: close\n",
        ),
        policy(
            "b",
            &["global"],
            "  - event: openat\n    filters: [uid=0]\n",
        ),
    ]
    .join("---\n");
    let l = lowered(&text);
    let openat = event_config(&l, 257);
    assert_eq!(openat.policies, 0b11);
    assert_eq!(openat.userspace, 0);
    assert_eq!(
        &openat.fields[..openat.field_count as usize],
        &[0, abi::FIELD_RETVAL, cf::UID]
    );
    assert_eq!(event_config(&l, 3).policies, 0b01);
    assert_eq!(l.events, vec![(3, "close"), (257, "openat")]);
    // Signed arguments are stored as their two's complement bits.
    assert_eq!(
        eq_of(&l, "rule_int", &int_key(257, 0, -100i64 as u64)),
        eq(1, 0)
    );
    let dirfd = field(&l, 257, 0);
    assert_eq!(dirfd.kinds, abi::FIELD_KIND_INT | abi::FIELD_KIND_SIGNED);
    assert_eq!(
        (dirfd.enabled, dirfd.match_missing, dirfd.ranged),
        (1, 0, 0)
    );
    assert_eq!(
        eq_of(&l, "rule_int", &int_key(257, cf::UID, 0)),
        eq(0b10, 0)
    );
}

#[test]
fn signed_retval_ranges_use_the_biased_order() {
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: close\n    filters: [retval<0, retval>=-5]\n",
    ));
    let retval = field(&l, 3, abi::FIELD_RETVAL);
    assert_eq!(retval.ranged, 1);
    let table: Vec<(u64, u64)> = array::<RangeEntry>(&l, "rule_ranges")
        .iter()
        .skip(retval.range_first as usize)
        .take(retval.range_count as usize)
        .map(|r| (r.start, r.bits))
        .collect();
    let biased = |v: i64| (v as u64) ^ (1 << 63);
    assert_eq!(table, vec![(0, 0), (biased(-5), 1), (biased(0), 0)]);
}

#[test]
fn only_not_equal_numbers_match_everything_else() {
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: close\n    filters: [retval!=0]\n",
    ));
    let retval = field(&l, 3, abi::FIELD_RETVAL);
    assert_eq!(
        (retval.enabled, retval.match_missing, retval.ranged),
        (1, 1, 0)
    );
    assert_eq!(
        eq_of(&l, "rule_int", &int_key(3, abi::FIELD_RETVAL, 0)),
        eq(0, 1)
    );
}

#[test]
fn every_numeric_operator_of_an_argument() {
    for (filter, eqs, ranged) in [
        ("args.fd=3", vec![(3u64, eq(1, 0))], false),
        ("args.fd!=3", vec![(3, eq(0, 1))], false),
        ("args.fd<3", vec![], true),
        ("args.fd<=3", vec![], true),
        ("args.fd>3", vec![], true),
        ("args.fd>=3", vec![], true),
    ] {
        let l = lowered(&policy(
            "a",
            &["global"],
            &format!("  - event: close\n    filters: ['{filter}']\n"),
        ));
        for (value, expected) in eqs {
            assert_eq!(
                eq_of(&l, "rule_int", &int_key(3, 0, value)),
                expected,
                "{filter}"
            );
        }
        assert_eq!(field(&l, 3, 0).ranged == 1, ranged, "{filter}");
    }
}

fn str_key(event: u32, field: u16, s: &[u8]) -> abi::StrKey {
    abi::StrKey {
        event,
        field,
        pad: 0,
        str: abi::fixed(s),
    }
}

fn lpm_key(event: u32, field: u16, s: &[u8]) -> abi::LpmStrKey {
    abi::LpmStrKey {
        prefixlen: (8 + s.len() as u32) * 8,
        event,
        field,
        pad: 0,
        str: abi::fixed(s),
    }
}

#[test]
fn string_arguments_in_all_four_forms() {
    let rules = "  - event: openat\n    filters: ['args.pathname=/etc/shadow', 'args.pathname=/tmp/*', 'args.pathname=*.so', 'args.pathname!=*passwd*']\n";
    let l = lowered(&policy("a", &["global"], rules));
    assert_eq!(
        eq_of(&l, "rule_str", &str_key(257, 1, b"/etc/shadow")),
        eq(1, 0)
    );
    assert_eq!(
        eq_of(&l, "rule_prefix", &lpm_key(257, 1, b"/tmp/")),
        eq(1, 0)
    );
    // Suffixes are stored reversed: suffix matching becomes prefix matching.
    assert_eq!(eq_of(&l, "rule_suffix", &lpm_key(257, 1, b"os.")), eq(1, 0));
    let contains = array::<abi::ContainsEntry>(&l, "rule_contains");
    assert_eq!(contains.len(), 1);
    assert_eq!((contains[0].eq, contains[0].ne, contains[0].len), (0, 1, 6));
    assert_eq!(&contains[0].str[..7], b"passwd\0");
    let pathname = field(&l, 257, 1);
    assert_eq!(
        pathname.kinds,
        abi::FIELD_KIND_EXACT
            | abi::FIELD_KIND_PREFIX
            | abi::FIELD_KIND_SUFFIX
            | abi::FIELD_KIND_CONTAINS
    );
    assert_eq!((pathname.contains_first, pathname.contains_count), (0, 1));
    assert_eq!(
        map(&l, "rule_prefix").flags,
        compiler::lower::BPF_F_NO_PREALLOC
    );
}

#[test]
fn overlapping_prefixes_carry_the_shorter_prefixes_bits() {
    let text = [
        policy(
            "a",
            &["global"],
            "  - event: openat\n    filters: ['args.pathname=/tmp/*']\n",
        ),
        policy(
            "b",
            &["global"],
            "  - event: openat\n    filters: ['args.pathname=/tmp/x/*']\n",
        ),
        policy(
            "c",
            &["global"],
            "  - event: openat\n    filters: ['args.pathname!=/t*']\n",
        ),
    ]
    .join("---\n");
    let l = lowered(&text);
    // The trie returns only the longest stored match: `/tmp/x/...` must also carry a's and c's bits.
    assert_eq!(
        eq_of(&l, "rule_prefix", &lpm_key(257, 1, b"/tmp/x/")),
        eq(0b011, 0b100)
    );
    assert_eq!(
        eq_of(&l, "rule_prefix", &lpm_key(257, 1, b"/tmp/")),
        eq(0b001, 0b100)
    );
    assert_eq!(
        eq_of(&l, "rule_prefix", &lpm_key(257, 1, b"/t")),
        eq(0, 0b100)
    );
    assert_eq!(field(&l, 257, 1).match_missing, 0b100);
}

#[test]
fn context_fields_lower_to_their_ids() {
    let rules = "  - event: close\n    filters: [comm=bash, 'hostName=web-*', syscall=close, container, cgroupId>5]\n";
    let l = lowered(&policy("a", &["global"], rules));
    assert_eq!(
        eq_of(&l, "rule_str", &str_key(3, cf::COMM, b"bash")),
        eq(1, 0)
    );
    assert_eq!(
        eq_of(&l, "rule_prefix", &lpm_key(3, cf::HOST_NAME, b"web-")),
        eq(1, 0)
    );
    // Syscall names are compared by number.
    assert_eq!(eq_of(&l, "rule_int", &int_key(3, cf::SYSCALL, 3)), eq(1, 0));
    assert_eq!(
        eq_of(&l, "rule_int", &int_key(3, cf::CONTAINER, 1)),
        eq(1, 0)
    );
    assert_eq!(field(&l, 3, cf::CGROUP_ID).ranged, 1);
}

#[test]
fn container_metadata_filters_are_marked_for_userspace() {
    let l = lowered(&policy(
        "a",
        &["container"],
        "  - event: close\n    filters: ['containerImage=nginx*', uid=0]\n",
    ));
    let close = event_config(&l, 3);
    assert_eq!(close.userspace, 1);
    assert_eq!(&close.fields[..close.field_count as usize], &[cf::UID]);
    assert_eq!(l.userspace.len(), 1);
    assert_eq!(l.userspace[0].event, Some(3));
    assert_eq!(l.userspace[0].field, "containerImage");
    assert_eq!(l.userspace[0].values, vec!["nginx*".to_owned()]);
}

#[test]
fn probes_follow_the_events() {
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: close\n  - event: sched_process_exec\n  - event: security_file_open\n",
    ));
    assert!(
        l.probes.contains(&"tp/syscalls/sys_exit_close".to_owned()),
        "{:?}",
        l.probes
    );
    assert!(
        l.probes.contains(&"tp/syscalls/sys_exit_openat".to_owned()),
        "{:?}",
        l.probes
    );
    assert!(
        l.probes.contains(&"tp_btf/sched_process_exec".to_owned()),
        "{:?}",
        l.probes
    );
    // close has only integer arguments: read at exit, no entry hook; nor has openat, whose
    // security_file_open reads its path at the exit (hooks::EXIT_ONLY).
    assert!(
        !l.probes.contains(&"tp/syscalls/sys_enter_close".to_owned()),
        "{:?}",
        l.probes
    );
    assert!(
        !l.probes
            .contains(&"tp/syscalls/sys_enter_openat".to_owned()),
        "{:?}",
        l.probes
    );
    // The syscall's own event selected too: its path is read at entry, for both.
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: openat\n  - event: security_file_open\n",
    ));
    assert!(
        l.probes
            .contains(&"tp/syscalls/sys_enter_openat".to_owned()),
        "{:?}",
        l.probes
    );
    let gate = |l: &Lowered, nr: u32| -> abi::SyscallGate {
        match l
            .map("syscall_gate")
            .and_then(|m| m.entries.get(nr.to_le_bytes().as_slice()))
        {
            Some(v) => pod_read_unaligned(v),
            None => panic!("no gate for syscall {nr}"),
        }
    };
    assert_eq!(gate(&l, 257).flags & abi::GATE_AT_EXIT, 0);
    let l = lowered(&policy("a", &["global"], "  - event: security_file_open\n"));
    let at_exit = abi::GATE_AT_EXIT | abi::GATE_NO_NEGATIVE_RET;
    assert_eq!(gate(&l, 257).flags & at_exit, at_exit);
    // mmap's memory events need nothing from its entry, mprotect's the mapping before the
    // change; security_mmap_file reports refused mmaps, so failures pass mmap's gate.
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: security_mmap_file\n  - event: security_file_mprotect\n",
    ));
    assert_eq!(gate(&l, 9).flags & at_exit, abi::GATE_AT_EXIT);
    assert_eq!(gate(&l, 10).flags & at_exit, 0);
    assert!(!l.probes.contains(&"tp/syscalls/sys_enter_mmap".to_owned()));
    assert!(
        l.probes
            .contains(&"tp/syscalls/sys_enter_mprotect".to_owned())
    );
    assert!(l.probes.contains(&"tp/syscalls/sys_exit_mmap".to_owned()));
    // LSM events built from syscalls and tracepoints.
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: security_socket_connect\n  - event: security_bprm_check\n  - event: security_inode_unlink\n",
    ));
    assert_eq!(
        l.probes,
        vec![
            "tp/syscalls/sys_enter_connect".to_owned(),
            "tp/syscalls/sys_enter_unlink".to_owned(),
            "tp/syscalls/sys_enter_unlinkat".to_owned(),
            "tp/syscalls/sys_exit_connect".to_owned(),
            "tp/syscalls/sys_exit_unlink".to_owned(),
            "tp/syscalls/sys_exit_unlinkat".to_owned(),
            "tp_btf/ext4_unlink_enter".to_owned(),
            "tp_btf/sched_process_exec".to_owned(),
        ]
    );
    // container scopes learn container cgroups as they are created.
    let l = lowered(&policy("a", &["container"], "  - event: close\n"));
    assert!(
        l.probes.contains(&"tp_btf/cgroup_mkdir".to_owned()),
        "{:?}",
        l.probes
    );
    // ... and for a rule's `container`/`host` filter (a detector's `container=started`).
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: close\n    filters:\n      - container=true\n",
    ));
    assert!(
        l.probes.contains(&"tp_btf/cgroup_mkdir".to_owned()),
        "{:?}",
        l.probes
    );
    let l = lowered(&policy("a", &["global"], "  - event: disk_mount\n"));
    assert!(
        l.probes.contains(&"tp_btf/cgroup_mkdir".to_owned()),
        "{:?}",
        l.probes
    );
    // executable scopes record binaries at exec and hand them down at fork.
    let l = lowered(&policy(
        "a",
        &["executable=/usr/bin/curl"],
        "  - event: close\n",
    ));
    assert!(
        l.probes.contains(&"tp_btf/sched_process_exec".to_owned())
            && l.probes.contains(&"tp_btf/sched_process_fork".to_owned()),
        "{:?}",
        l.probes
    );
    // exit_group never returns: entry only.
    let l = lowered(&policy("a", &["global"], "  - event: exit_group\n"));
    assert_eq!(
        l.probes,
        vec!["tp/syscalls/sys_enter_exit_group".to_owned()]
    );
    // tree and follow learn processes at fork and exit; follow also examines the running
    // processes once (a task iterator), tree reads them from /proc.
    let l = lowered(&policy("a", &["follow", "comm=sh"], "  - event: close\n"));
    assert!(
        l.probes.contains(&"tp_btf/sched_process_fork".to_owned())
            && l.probes.contains(&"tp_btf/sched_process_exit".to_owned())
            && l.probes.contains(&"iter/task".to_owned()),
        "{:?}",
        l.probes
    );
    let l = lowered(&policy("a", &["tree=1"], "  - event: close\n"));
    assert!(
        !l.probes.contains(&"iter/task".to_owned()),
        "{:?}",
        l.probes
    );
    // More syscalls than get tracepoints of their own: the generic hooks.
    let many: String = schema::catalog::events()
        .iter()
        .filter(|e| {
            e.kind == schema::catalog::EventKind::Syscall
                && !["exit", "exit_group"].contains(&e.name)
        })
        .take(compiler::lower::MAX_PER_SYSCALL_PROBES + 1)
        .map(|e| format!("  - event: {}\n", e.name))
        .collect();
    let l = lowered(&policy("a", &["global"], &many));
    assert_eq!(
        l.probes,
        vec!["tp_btf/sys_enter".to_owned(), "tp_btf/sys_exit".to_owned()]
    );
}

#[test]
fn events_carry_the_argument_capture_plan() {
    use schema::abi::{EVENT_FLAG_ENTRY, arg_kind};
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: close\n  - event: openat\n",
    ));
    let close = event_config(&l, 3);
    assert_eq!((close.arg_count, close.flags), (1, 0));
    assert_eq!((close.arg_kinds[0], close.arg_sizes[0]), (arg_kind::INT, 4));
    let openat = event_config(&l, 257);
    assert_eq!(openat.arg_count, 4);
    assert_eq!(openat.flags & EVENT_FLAG_ENTRY, EVENT_FLAG_ENTRY);
    assert_eq!(
        &openat.arg_kinds[..4],
        &[arg_kind::INT, arg_kind::STR, arg_kind::INT, arg_kind::UINT]
    );
}

#[test]
fn lowering_is_deterministic_and_sizes_follow_the_content() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/policies/overview.yaml"
    ))
    .unwrap_or_default();
    let a = lowered(&text);
    let b = lowered(&text);
    assert_eq!(a, b);
    for m in &a.maps {
        assert!(
            m.max_entries >= m.entries.len() as u32 && m.max_entries >= 1,
            "{}",
            m.name
        );
        for (k, v) in &m.entries {
            assert_eq!(
                (k.len() as u32, v.len() as u32),
                (m.key_size, m.value_size),
                "{}",
                m.name
            );
        }
    }
    assert_eq!(
        map(&a, "scope_uid").max_entries,
        1,
        "an unused map has the minimum size"
    );
}

#[test]
fn every_context_field_lowers_to_its_id_or_to_userspace() {
    let kernel: &[(&str, u16, &str)] = &[
        ("timestamp", cf::TIMESTAMP, "timestamp>5"),
        ("processorId", cf::PROCESSOR_ID, "processorId=1"),
        ("pid", cf::PID, "pid=2"),
        ("tid", cf::TID, "tid=3"),
        ("ppid", cf::PPID, "ppid=4"),
        ("hostTid", cf::HOST_TID, "hostTid=5"),
        ("hostPid", cf::HOST_PID, "hostPid=6"),
        (
            "hostParentProcessId",
            cf::HOST_PPID,
            "hostParentProcessId=7",
        ),
        ("uid", cf::UID, "uid=0"),
        ("mntns", cf::MNTNS, "mntns=8"),
        ("pidns", cf::PIDNS, "pidns=9"),
        ("comm", cf::COMM, "comm=bash"),
        ("hostName", cf::HOST_NAME, "hostName=h"),
        ("cgroupId", cf::CGROUP_ID, "cgroupId=10"),
        ("container", cf::CONTAINER, "container=true"),
        ("host", cf::HOST, "host=true"),
        ("syscall", cf::SYSCALL, "syscall=close"),
    ];
    for (name, id, filter) in kernel {
        let l = lowered(&policy(
            "a",
            &["global"],
            &format!("  - event: close\n    filters: ['{filter}']\n"),
        ));
        let close = event_config(&l, 3);
        assert_eq!(
            &close.fields[..close.field_count as usize],
            &[*id],
            "{name}"
        );
        assert_eq!(field(&l, 3, *id).enabled, 1, "{name}");
        assert!(l.userspace.is_empty(), "{name}");
    }
    for filter in [
        "containerId=abc",
        "containerImage=nginx",
        "containerImageDigest=sha256:1",
        "containerName=web",
        "podName=p",
        "podNamespace=n",
        "podUid=u",
        "podSandbox=true",
    ] {
        let l = lowered(&policy(
            "a",
            &["container"],
            &format!("  - event: close\n    filters: ['{filter}']\n"),
        ));
        let close = event_config(&l, 3);
        assert_eq!((close.field_count, close.userspace), (0, 1), "{filter}");
        assert_eq!(l.userspace.len(), 1, "{filter}");
    }
}

#[test]
fn every_argument_type_has_its_lookup_kind() {
    // (event, filter, field id, kinds, equality key value)
    let cases: &[(&str, &str, u16, u32)] = &[
        (
            "openat",
            "args.dirfd=-100",
            0,
            abi::FIELD_KIND_INT | abi::FIELD_KIND_SIGNED,
        ),
        ("openat", "args.mode=0o600", 3, abi::FIELD_KIND_INT),
        ("read", "args.count=4096", 2, abi::FIELD_KIND_INT),
        ("read", "args.buf=0", 1, abi::FIELD_KIND_INT),
        (
            "openat",
            "args.pathname=/etc/passwd",
            1,
            abi::FIELD_KIND_EXACT,
        ),
        (
            "sched_process_exit",
            "args.process_group_exit=true",
            2,
            abi::FIELD_KIND_INT,
        ),
    ];
    for (event, filter, id, kinds) in cases {
        let l = lowered(&policy(
            "a",
            &["global"],
            &format!("  - event: {event}\n    filters: ['{filter}']\n"),
        ));
        let event_id = match schema::catalog::event(event) {
            Some(e) => e.id,
            None => panic!("{event}"),
        };
        assert_eq!(field(&l, event_id, *id).kinds, *kinds, "{filter}");
    }
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: read\n    filters: ['args.count=18446744073709551615']\n",
    ));
    assert_eq!(eq_of(&l, "rule_int", &int_key(0, 2, u64::MAX)), eq(1, 0));
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: openat\n    filters: ['args.mode=0o600']\n",
    ));
    assert_eq!(eq_of(&l, "rule_int", &int_key(257, 3, 0o600)), eq(1, 0));
}

fn gate_flags(l: &Lowered, nr: u32) -> u32 {
    let gate = map(l, "syscall_gate")
        .entries
        .get(&nr.to_le_bytes()[..])
        .map(|v| pod_read_unaligned::<abi::SyscallGate>(v));
    match gate {
        Some(g) => {
            g.flags
                & (abi::GATE_NO_NEGATIVE_RET | abi::GATE_NO_ZERO_RET | abi::GATE_NO_POSITIVE_RET)
        }
        None => panic!("no gate for syscall {nr}"),
    }
}

/// The gate tells the syscall's exit which return values no rule can pass, so e.g. every
/// successful close is turned away before the scope is looked at.
#[test]
fn syscall_gate_marks_return_values_no_rule_admits() {
    const NEG: u32 = abi::GATE_NO_NEGATIVE_RET;
    const ZERO: u32 = abi::GATE_NO_ZERO_RET;
    const POS: u32 = abi::GATE_NO_POSITIVE_RET;
    let close = |filters: &[&str]| {
        let filters: String = filters.iter().map(|f| format!("      - {f}\n")).collect();
        if filters.is_empty() {
            CLOSE.to_owned()
        } else {
            format!("{CLOSE}    filters:\n{filters}")
        }
    };
    let cases: &[(&[&[&str]], u32)] = &[
        (&[&["retval!=0"]], ZERO),
        (&[&["retval<0"]], ZERO | POS),
        (&[&["retval=0"]], NEG | POS),
        (&[&["retval>=0"]], NEG),
        (&[&["retval>5"]], NEG | ZERO),
        (&[&["retval=-9", "retval>100"]], ZERO),
        // `!=` inside a bound: 0 is still excluded, the bound's other values pass.
        (&[&["retval>=0", "retval<=1", "retval!=0"]], NEG | ZERO),
        // Numbers only excluded pass everything else, zero too.
        (&[&["retval!=1"]], 0),
        // No retval filter, or another field only: every return value may match.
        (&[&[]], 0),
        (&[&["args.fd=3"]], 0),
        // Policies widen each other: one without a retval filter admits everything.
        (&[&["retval!=0"], &[]], 0),
        (&[&["retval<0"], &["retval>0"]], ZERO),
    ];
    for (rules, expected) in cases {
        let text = rules
            .iter()
            .enumerate()
            .map(|(i, filters)| policy(&format!("p{i}"), &["global"], &close(filters)))
            .collect::<Vec<_>>()
            .join("---\n");
        let l = lowered(&text);
        assert_eq!(gate_flags(&l, 3), *expected, "{rules:?}");
    }
}

#[test]
fn renamed_fields_compile_under_their_old_names() {
    let rule = |field: &str| {
        lowered(&policy(
            "a",
            &["global"],
            &format!("  - event: sched_process_fork\n    filters: ['args.{field}=1']\n"),
        ))
    };
    let old = rule("up_parent_pid");
    let new = rule("parent_process_pid");
    assert_eq!(format!("{old:?}"), format!("{new:?}"));
    // parent_process_pid is the 13th field of Tracee's sched_process_fork.
    assert_eq!(
        field(&new, 712, 12).kinds,
        abi::FIELD_KIND_INT | abi::FIELD_KIND_SIGNED
    );
}

/// A syscall a derived event is built from gets its capture plan with no policies; string
/// arrays no handler reads are kept as addresses (execve's argv and envp are not read for
/// commit_creds), while the syscall's own rule reads them.
#[test]
fn derived_source_plans_skip_string_arrays() {
    let l = lowered(&policy("a", &["global"], "  - event: commit_creds\n"));
    let execve = event_config(&l, 59);
    assert_eq!(execve.policies, 0);
    assert_eq!(
        execve.arg_kinds[0],
        abi::arg_kind::STR,
        "pathname is still read"
    );
    assert_eq!(execve.arg_kinds[1], abi::arg_kind::UINT);
    assert_eq!(execve.arg_kinds[2], abi::arg_kind::UINT);
    let l = lowered(&policy(
        "a",
        &["global"],
        "  - event: commit_creds\n  - event: execve\n",
    ));
    let execve = event_config(&l, 59);
    assert_eq!(execve.arg_kinds[1], abi::arg_kind::STR_ARRAY);
}

/// `events[security_file_open]` of an image.
fn file_open_config(l: &Lowered) -> abi::EventConfig {
    match l
        .map("events")
        .and_then(|m| m.entries.get(730u32.to_le_bytes().as_slice()))
    {
        Some(v) => pod_read_unaligned(v),
        None => panic!("no security_file_open config"),
    }
}

/// Path anchors (docs/image-format.md): the first or last component each value of a
/// policy's path filters needs; a policy some path outside them may match is not anchored.
#[test]
fn path_anchors_follow_the_filters() {
    let anchors = |filters: &str| -> (u64, Vec<(u8, String)>) {
        let text = if filters.is_empty() {
            "  - event: security_file_open\n".to_owned()
        } else {
            format!("  - event: security_file_open\n    filters: [{filters}]\n")
        };
        let l = lowered(&policy("a", &["global"], &text));
        let config = file_open_config(&l);
        let keys: Vec<abi::AnchorKey> = l
            .map("path_anchors")
            .map(|m| m.entries.keys().map(|k| pod_read_unaligned(k)).collect())
            .unwrap_or_default();
        // The sketch has each anchor's bit and no other.
        let mut sketch = [0u64; abi::ANCHOR_SKETCH_BITS / 64];
        for a in &keys {
            let name = &a.name[..usize::from(a.len)];
            let bit = abi::anchor_sketch_bit(a.kind, a.len, name[0], name[name.len() - 1]);
            sketch[bit as usize / 64] |= 1 << (bit % 64);
        }
        assert_eq!(config.anchor_sketch, sketch, "{filters}");
        let keys = keys
            .iter()
            .map(|a| {
                let name = &a.name[..usize::from(a.len)];
                (a.kind, String::from_utf8_lossy(name).into_owned())
            })
            .collect();
        (config.anchored, keys)
    };
    use abi::anchor::{LAST, LAST_SUFFIX, TOP};
    assert_eq!(
        anchors(
            "data.pathname=/etc/x/*, data.pathname=*/mem, data.pathname=*.sock, data.pathname=/a/b"
        ),
        (
            1,
            vec![
                (TOP, "etc".to_owned()),
                (LAST, "b".to_owned()),
                (LAST, "mem".to_owned()),
                (LAST_SUFFIX, ".sock".to_owned()),
            ]
        )
    );
    // Another field's filters do not anchor the path; `!=` values only narrow `=` ones.
    assert_eq!(
        anchors("data.pathname=/etc/x/*, data.pathname!=/etc/x/y, data.flags=0").0,
        1
    );
    // Values a path outside every anchor may match: no anchors at all.
    for filters in [
        "",
        "data.flags=0",
        "data.pathname!=/etc/x",
        "data.pathname=*etc*",
        "data.pathname=/*",
        "data.pathname=/et*",
        "data.pathname=/etc/x/*, data.pathname=*etc*",
    ] {
        assert_eq!(anchors(filters), (0, Vec::new()), "{filters}");
    }
    // Only the paths with no root (a memfd's) or names longer than an anchor holds: anchored,
    // with nothing to meet (the kernel does not anchor those paths).
    let long = format!("data.pathname=/d/{}", "x".repeat(abi::ANCHOR_NAME_MAX + 1));
    assert_eq!(anchors(&long), (1, Vec::new()));
    assert_eq!(anchors("data.pathname=memfd:*"), (1, Vec::new()));
}

/// A policy with its own rule on `security_file_open` and none of the others': anchors
/// are per policy, and detections anchor the policies they are all of.
#[test]
fn path_anchors_are_per_policy() {
    let two = format!(
        "{}---\n{}",
        policy(
            "a",
            &["global"],
            "  - event: security_file_open\n    filters: [data.pathname=/etc/x/*]\n"
        ),
        policy("b", &["global"], "  - event: security_file_open\n")
    );
    let l = lowered(&two);
    let config = file_open_config(&l);
    assert_eq!(config.anchored, 1);
    // Detections: sudoers_modification's paths anchor its policy; with an unfiltered rule of
    // the policy's own on the base event, every path is printed, so none.
    let l = lowered(&policy(
        "d",
        &["global"],
        "  - event: sudoers_modification\n",
    ));
    let config = file_open_config(&l);
    assert_eq!(config.anchored, 1);
    let l = lowered(&policy(
        "d",
        &["global"],
        "  - event: sudoers_modification\n  - event: security_file_open\n",
    ));
    let config = file_open_config(&l);
    assert_eq!(config.anchored, 0);
}

/// Network events: addresses are IPv4 numbers in the socket-address slots (a CIDR block is
/// a range), ports their own fields, the DNS question name a string field, and an HTTP
/// request's parts their string slots; the image lists the packet programs' hooks.
#[test]
fn network_filters_lower_into_their_slots() {
    let rules = "  - event: net_packet_udp\n    filters: ['data.dst=10.0.0.0/8', 'data.src=192.168.1.1', 'data.dst_port=53']\n  - event: net_packet_dns_request\n    filters: ['data.dns_questions=*.example.com']\n  - event: net_packet_http_request\n    filters: ['data.http_request.method=POST', 'data.http_request.uri_path=/api/*', 'data.http_request.host=*.example.com']\n";
    let l = lowered(&policy("n", &["global"], rules));
    let (udp, dns, http) = (2003, 2007, 2010);
    let ip = |i: u16| abi::SOCK_IP_SLOT + i;
    assert_eq!(
        eq_of(&l, "rule_int", &int_key(udp, ip(0), 0xc0a8_0101)),
        eq(1, 0)
    );
    assert_eq!(field(&l, udp, ip(1)).ranged, 1, "the block is a range");
    assert_eq!(eq_of(&l, "rule_int", &int_key(udp, 3, 53)), eq(1, 0));
    assert_eq!(
        eq_of(&l, "rule_suffix", &lpm_key(dns, 1, b"moc.elpmaxe.")),
        eq(1, 0)
    );
    assert_eq!(
        eq_of(
            &l,
            "rule_str",
            &str_key(http, abi::HTTP_METHOD_SLOT, b"POST")
        ),
        eq(1, 0)
    );
    assert_eq!(
        eq_of(
            &l,
            "rule_prefix",
            &lpm_key(http, abi::HTTP_PATH_SLOT, b"/api/")
        ),
        eq(1, 0)
    );
    assert_eq!(
        eq_of(
            &l,
            "rule_suffix",
            &lpm_key(http, abi::HTTP_HOST_SLOT, b"moc.elpmaxe.")
        ),
        eq(1, 0)
    );
    let probes = &l.probes;
    for hook in [
        "cgroup_skb/ingress",
        "cgroup_skb/egress",
        "cgroup/sock_create",
        "tp_btf/inet_sock_set_state",
    ] {
        assert!(probes.iter().any(|p| p == hook), "{hook}: {probes:?}");
    }
}

/// What the kernel cannot compare is refused where it is written: an IPv6 address, a part
/// of an HTTP request it does not read, a whole structure.
#[test]
fn network_filters_the_kernel_cannot_decide_are_errors() {
    for (filter, needle) in [
        ("net_packet_tcp', filters: ['data.dst=::1", "IPv6 address"),
        (
            "net_packet_http_request', filters: ['data.http_request.status=200",
            "no part `status`",
        ),
        (
            "net_packet_http_request', filters: ['data.http_request=GET",
            "filter its parts",
        ),
        (
            "net_packet_dns', filters: ['data.metadata=x",
            "cannot be filtered",
        ),
    ] {
        let text = policy("n", &["global"], &format!("  - {{event: '{filter}']}}\n"));
        let checked = compiler::check_text("n.yaml", &text);
        let shown = checked.render_plain(100);
        assert_eq!(checked.diagnostics.error_count(), 1, "{shown}");
        assert!(shown.contains(needle), "{filter}: {shown}");
    }
}

/// Packet programs are attached only for images with network events.
#[test]
fn images_without_network_events_attach_no_packet_program() {
    let l = lowered(&policy(
        "n",
        &["global"],
        "  - event: openat\n  - event: connect\n",
    ));
    assert!(
        l.probes
            .iter()
            .all(|p| !p.starts_with("cgroup") && !p.contains("sock_")),
        "{:?}",
        l.probes
    );
}
