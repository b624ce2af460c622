//! Mutations of valid policies into `check_text`. Raw bytes rarely get past the YAML
//! parser into the checks of scopes, rules and filters; starting from a valid policy and
//! applying a few fuzzer-chosen edits (insert, delete, replace, splice, policy tokens)
//! keeps most inputs well-formed enough to reach validation and its diagnostics.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Valid policies to start from: the bundled overview (CRD form, YAML) and three written
/// here for the other shapes (JSON, plain form, several documents with anchors).
const SEEDS: &[&str] = &[
    include_str!("../../../testdata/policies/overview.yaml"),
    r#"{
  "apiVersion": "tracee.aquasec.com/v1beta1",
  "kind": "Policy",
  "metadata": {
    "name": "reverse-shells",
    "labels": {"severity": "critical"},
    "annotations": {"description": "shells that connect out"}
  },
  "spec": {
    "scope": ["comm=bash,sh,dash,zsh,nc,ncat", "follow"],
    "defaultActions": ["log"],
    "rules": [
      {"event": "connect", "filters": ["args.addrlen>=16", "retval=0,-115"]},
      {"event": "dup2", "filters": ["args.newfd>=0", "args.newfd<=2", "args.oldfd>2"]},
      {"event": "security_socket_connect", "filters": ["hostName!=build-*"], "actions": ["print"]}
    ]
  }
}
"#,
    "type: policy
name: plain-form
description: the plain form, flow lists and quoting
version: 1
scope: [uid>=1000, 'comm=bash', \"executable=/usr/bin/curl\", not-container]
defaultActions: [log]
rules:
  - event: openat
    filters: [args.pathname=/etc/shadow, 'args.flags!=0', retval<0]
  - event: execve
    filters:
      - args.pathname=*/nc,/tmp/*
    actions: [print]
",
    "apiVersion: tracee.aquasec.com/v1beta1
kind: Policy
metadata:
  name: pinned.workload
  annotations:
    description: &d namespaces and containers
spec:
  scope:
    - mntns=4026532451
    - pidns=4026532452
    - uts=payments-api-7d9f8
  defaultActions: &actions
    - log
  rules:
    - event: security_file_open
      filters: &files
        - args.pathname=/var/run/secrets/*,*.pem,*.key
        - cgroupId!=0
    - event: sched_process_exec
      actions: *actions
---
apiVersion: tracee.aquasec.com/v1beta1
kind: Policy
metadata:
  name: quarantined-container
  annotations:
    description: *d
spec:
  scope:
    - container=3f4e5a6b7c8d
    - tree=1234
  defaultActions: [log, print]
  rules:
    - event: openat
      filters:
        - container=true
        - uid=0,1000
    - event: ptrace
      filters: [args.request=16, retval=0]
",
];

/// Pieces of the policy language and of YAML/JSON syntax, so that insertions build
/// plausible (and plausibly wrong) policies.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    // YAML and JSON syntax
    "\n", "  ", "    ", "- ", ": ", ", ", ",", "\"", "'", "[", "]", "{", "}", "#", "&a ", "*a",
    "---\n", "...\n", "!!str ", "!!int ", "|\n", ">-\n", "\t", "\r\n", "~", "null", "true",
    // values
    "0x10", "-1", "0o777", "18446744073709551616", "é", "\u{200b}", "\u{1F600}",
    // operators and scope keys
    "=", "!=", ">", ">=", "<", "<=", "*", "global", "follow", "container", "not-container",
    "uid", "pid", "comm", "mntns", "pidns", "uts", "tree", "executable",
    // filters, events, actions
    "args.", "data.", "retval", "pathname", "flags", "hostName", "containerImage", "openat",
    "execve", "sched_process_exec", "security_file_open", "connect", "log", "print",
    // policy keys
    "event: ", "filters:", "actions:", "scope:", "rules:", "defaultActions:", "metadata:",
    "name: ", "description: ", "annotations:", "labels:", "spec:", "apiVersion: ",
    "kind: Policy", "type: policy",
];

#[derive(Arbitrary, Debug)]
enum Edit {
    /// Inserts raw bytes.
    Insert { at: u16, bytes: Vec<u8> },
    /// Inserts one token of `TOKENS`.
    Token { at: u16, token: u8 },
    /// Deletes up to `len` bytes.
    Delete { at: u16, len: u8 },
    /// Overwrites bytes in place.
    Overwrite { at: u16, bytes: Vec<u8> },
    /// Copies a range of the text to another place (duplicates keys, lines, documents).
    Splice { from: u16, len: u16, to: u16 },
    /// Inserts a range of another seed (mixes forms and documents).
    Cross {
        seed: u8,
        from: u16,
        len: u16,
        to: u16,
    },
    /// Repeats a range a few times (long lists, many rules).
    Repeat { from: u16, len: u8, times: u8 },
    /// Repeats a short range many times: long lines, deep columns (past miette's 65,535
    /// padding limit with tabs, which it draws 4 columns wide), long scalars.
    Stretch { from: u16, len: u8, times: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u8,
    edits: Vec<Edit>,
}

/// A position in `0..=len`.
fn pos(at: u16, len: usize) -> usize {
    usize::from(at) % (len + 1)
}

/// The range `from..from + len` clamped to `text`.
fn range(text: &[u8], from: u16, len: usize) -> std::ops::Range<usize> {
    let start = pos(from, text.len());
    start..start + len.min(text.len() - start)
}

fn apply(text: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Insert { at, bytes } => {
            let at = pos(*at, text.len());
            text.splice(at..at, bytes.iter().copied());
        }
        Edit::Token { at, token } => {
            let at = pos(*at, text.len());
            let token = TOKENS[usize::from(*token) % TOKENS.len()];
            text.splice(at..at, token.bytes());
        }
        Edit::Delete { at, len } => {
            let r = range(text, *at, usize::from(*len));
            text.drain(r);
        }
        Edit::Overwrite { at, bytes } => {
            let r = range(text, *at, bytes.len());
            let n = r.len();
            text[r].copy_from_slice(&bytes[..n]);
        }
        Edit::Splice { from, len, to } => {
            let piece = text[range(text, *from, usize::from(*len))].to_vec();
            let to = pos(*to, text.len());
            text.splice(to..to, piece);
        }
        Edit::Cross {
            seed,
            from,
            len,
            to,
        } => {
            let other = SEEDS[usize::from(*seed) % SEEDS.len()].as_bytes();
            let piece = &other[range(other, *from, usize::from(*len))];
            let to = pos(*to, text.len());
            text.splice(to..to, piece.iter().copied());
        }
        Edit::Repeat { from, len, times } => {
            let r = range(text, *from, usize::from(*len));
            let piece = text[r.clone()].to_vec();
            let copies = usize::from(*times % 16);
            let at = r.end;
            text.splice(
                at..at,
                piece.iter().copied().cycle().take(piece.len() * copies),
            );
        }
        Edit::Stretch { from, len, times } => {
            let r = range(text, *from, usize::from(*len % 8));
            let piece = text[r.clone()].to_vec();
            let total = (piece.len() * usize::from(*times)).min(MAX_LEN.saturating_sub(text.len()));
            let at = r.end;
            text.splice(at..at, piece.iter().copied().cycle().take(total));
        }
    }
}

/// Keeps inputs small enough for many executions per second, and long enough for lines
/// past column 65,535 (with tabs).
const MAX_LEN: usize = 64 * 1024;

fuzz_target!(|input: Input| {
    let mut text = SEEDS[usize::from(input.seed) % SEEDS.len()]
        .as_bytes()
        .to_vec();
    for edit in input.edits.iter().take(32) {
        apply(&mut text, edit);
        if text.len() > MAX_LEN {
            text.truncate(MAX_LEN);
        }
    }
    let text = String::from_utf8_lossy(&text);
    tracee_compile_fuzz::check_invariants(&text);
});
