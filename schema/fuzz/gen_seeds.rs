//! Writes a few valid images into `seeds/decode/` as the fuzzer's starting corpus:
//! `cargo run --bin gen_seeds` from `schema/fuzz/`.

use std::fs;
use std::path::Path;

use schema::image::{
    BPF_F_NO_PREALLOC, EventMeta, Image, MapSection, MapType, Meta, PolicyMeta, UserspaceFilter,
    encode,
};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/decode");
    fs::create_dir_all(&dir)?;
    let empty = Image {
        abi_hash: 0,
        catalog_hash: 0,
        meta: Meta::default(),
        maps: Vec::new(),
    };
    let full = Image {
        abi_hash: 0x0123_4567_89ab_cdef,
        catalog_hash: 0xfedc_ba98_7654_3210,
        meta: Meta {
            policies: vec![PolicyMeta {
                id: 0,
                name: "files".into(),
                description: "sensitive files".into(),
                actions: vec!["log".into()],
            }],
            events: vec![EventMeta {
                id: 257,
                name: "openat".into(),
            }],
            probes: vec!["tp/syscalls/sys_exit_openat".into()],
            userspace_filters: vec![UserspaceFilter {
                policy: 0,
                event: 257,
                field: "args.pathname".into(),
                op: "contains".into(),
                values: vec!["shadow".into()],
                reason: "substring match".into(),
            }],
        },
        maps: vec![
            MapSection {
                name: "events".into(),
                map_type: MapType::Hash,
                key_size: 4,
                value_size: 8,
                max_entries: 4,
                flags: 0,
                entries: vec![(257u32.to_le_bytes().to_vec(), 1u64.to_le_bytes().to_vec())],
            },
            MapSection {
                name: "cfg".into(),
                map_type: MapType::Array,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                flags: 0,
                entries: vec![(vec![0; 4], vec![1, 2, 3, 4])],
            },
            MapSection {
                name: "prefix".into(),
                map_type: MapType::LpmTrie,
                key_size: 12,
                value_size: 8,
                max_entries: 8,
                flags: BPF_F_NO_PREALLOC,
                entries: vec![
                    (
                        [&40u32.to_le_bytes()[..], b"/etc/\0\0\0"].concat(),
                        vec![1; 8],
                    ),
                    (
                        [&8u32.to_le_bytes()[..], b"/\0\0\0\0\0\0\0"].concat(),
                        vec![2; 8],
                    ),
                ],
            },
        ],
    };
    fs::write(dir.join("empty.bin"), encode(&empty))?;
    fs::write(dir.join("full.bin"), encode(&full))?;
    Ok(())
}
