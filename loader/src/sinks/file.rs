//! The file sink: JSON lines appended to PATH; with rotation, PATH is renamed PATH.1 (PATH.1
//! to PATH.2, ..., the oldest beyond PATH.K removed) before a line would take it past the
//! size, so every file holds whole lines and a line is in exactly one file. A failed write
//! is cut back to the last whole line, its events counted as dropped, and the next chunk
//! tries again.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{SinkStats, count_lines};
use crate::output::{Popped, Queue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// A file is rotated before a line would take it past this (a single longer line is
    /// written alone to a fresh file).
    pub max_bytes: u64,
    /// PATH.1 .. PATH.keep are kept.
    pub keep: u32,
}

fn open(path: &Path) -> std::io::Result<(File, u64)> {
    // Non-blocking: a FIFO without a reader must not hang the loader's start.
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (sizes, rotation and cut-back need one)",
        ));
    }
    let end = file.seek(SeekFrom::End(0))?;
    Ok((file, end))
}

/// Opens the file (so that a path that cannot be written is refused at start) and starts
/// the sink's thread.
pub(super) fn start(
    path: &Path,
    rotation: Option<Rotation>,
    queue: Arc<Queue>,
    stats: Arc<SinkStats>,
) -> Result<(), String> {
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(format!(
            "--output-file {}: not a regular file (sizes, rotation and cut-back need one)",
            path.display()
        ));
    }
    let (file, size) = open(path).map_err(|e| {
        format!(
            "--output-file {}: {e} (give a path in a directory that exists and root can write)",
            path.display()
        )
    })?;
    let mut out = Rotating {
        path: path.to_owned(),
        rotation,
        file,
        size,
    };
    crate::harden::spawn_unprivileged("sink-file", move || {
        loop {
            match queue.pop_within(std::time::Duration::from_secs(3600)) {
                Popped::Chunk(chunk) => {
                    match out.write(&chunk.bytes) {
                        Ok(()) => {
                            stats.delivered.fetch_add(chunk.events, Ordering::Relaxed);
                        }
                        Err((written, error)) => {
                            let done = written.min(chunk.events);
                            stats.delivered.fetch_add(done, Ordering::Relaxed);
                            stats
                                .dropped
                                .fetch_add(chunk.events - done, Ordering::Relaxed);
                            stats.failed(error);
                        }
                    }
                    queue.recycle(chunk.bytes);
                }
                Popped::Empty => {}
                Popped::Closed => break,
            }
        }
        let _ = out.file.sync_data();
        stats.finished.store(true, Ordering::SeqCst);
    })
}

struct Rotating {
    path: PathBuf,
    rotation: Option<Rotation>,
    file: File,
    /// Bytes in the current file.
    size: u64,
}

impl Rotating {
    /// Writes whole lines, rotating between them as needed. On failure: the lines written
    /// whole, and the error (the file is cut back to its last whole line).
    fn write(&mut self, bytes: &[u8]) -> Result<(), (u64, String)> {
        let Some(rotation) = self.rotation else {
            return self.append(bytes).map_err(|e| (0, e));
        };
        let mut rest = bytes;
        let mut written = 0;
        while !rest.is_empty() {
            let room = rotation.max_bytes.saturating_sub(self.size);
            let fits = fitting_lines(rest, room);
            if fits == 0 {
                if self.size > 0 {
                    self.rotate(rotation).map_err(|e| (written, e))?;
                    continue;
                }
                // One line longer than a whole file: alone in a file of its own.
                let end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                let (line, after) = rest.split_at(end);
                self.append(line).map_err(|e| (written, e))?;
                written += 1;
                rest = after;
                continue;
            }
            let (now, after) = rest.split_at(fits);
            self.append(now).map_err(|e| (written, e))?;
            written += count_lines(now);
            rest = after;
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), String> {
        let before = self.size;
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Whatever part went in is taken back: the file ends with a whole line.
                let _ = self.file.set_len(before);
                let _ = self.file.seek(SeekFrom::Start(before));
                Err(format!("writing {}: {e}", self.path.display()))
            }
        }
    }

    fn rotate(&mut self, rotation: Rotation) -> Result<(), String> {
        let _ = self.file.sync_data();
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        let _ = std::fs::remove_file(numbered(rotation.keep));
        for n in (1..rotation.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))
                    .map_err(|e| format!("rotating {} to .{}: {e}", from.display(), n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
            .map_err(|e| format!("rotating {}: {e}", self.path.display()))?;
        let (file, size) =
            open(&self.path).map_err(|e| format!("opening {}: {e}", self.path.display()))?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}

/// How many bytes of `bytes`' leading whole lines fit in `room`.
fn fitting_lines(bytes: &[u8], room: u64) -> usize {
    let window = bytes
        .get(..usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len()))
        .unwrap_or_default();
    super::whole_lines(window).0.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(from: usize, n: usize) -> Vec<u8> {
        (from..from + n)
            .flat_map(|i| format!("{{\"n\":{i:04}}}\n").into_bytes())
            .collect()
    }

    fn rotating(dir: &Path, max_bytes: u64, keep: u32) -> Rotating {
        let path = dir.join("events.json");
        let (file, size) = open(&path).unwrap_or_else(|e| panic!("{e}"));
        Rotating {
            path,
            rotation: Some(Rotation { max_bytes, keep }),
            file,
            size,
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Lines of 11 bytes, files of 50: four lines a file, never a split one; the oldest
    /// beyond `keep` go.
    #[test]
    fn rotation_keeps_whole_lines_and_the_newest_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut out = rotating(dir.path(), 50, 2);
        assert_eq!(out.write(&lines(0, 6)), Ok(()));
        assert_eq!(out.write(&lines(6, 6)), Ok(()));
        let path = dir.path().join("events.json");
        let current = read(&path);
        let one = read(&dir.path().join("events.json.1"));
        let two = read(&dir.path().join("events.json.2"));
        assert!(!dir.path().join("events.json.3").exists());
        assert_eq!(two, String::from_utf8_lossy(&lines(0, 4)));
        assert_eq!(one, String::from_utf8_lossy(&lines(4, 4)));
        assert_eq!(current, String::from_utf8_lossy(&lines(8, 4)));
        // And once more: the oldest (0..4) is gone.
        assert_eq!(out.write(&lines(12, 1)), Ok(()));
        assert_eq!(read(&dir.path().join("events.json.2")), one);
        assert_eq!(read(&dir.path().join("events.json.1")), current);
        assert_eq!(read(&path), String::from_utf8_lossy(&lines(12, 1)));
    }

    /// A line longer than a file may be gets a file of its own.
    #[test]
    fn a_line_longer_than_the_limit_is_written_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut out = rotating(dir.path(), 5, 3);
        assert_eq!(out.write(b"ab\nlonger line\ncd\n"), Ok(()));
        assert_eq!(read(&dir.path().join("events.json.2")), "ab\n");
        assert_eq!(read(&dir.path().join("events.json.1")), "longer line\n");
        assert_eq!(read(&dir.path().join("events.json")), "cd\n");
    }

    /// An existing file is appended to, its size counted toward the limit.
    #[test]
    fn an_existing_file_is_continued() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("events.json");
        std::fs::write(&path, lines(0, 3)).unwrap_or_else(|e| panic!("{e}"));
        let mut out = rotating(dir.path(), 50, 1);
        assert_eq!(out.write(&lines(3, 2)), Ok(()));
        assert_eq!(
            read(&dir.path().join("events.json.1")),
            String::from_utf8_lossy(&lines(0, 4))
        );
        assert_eq!(read(&path), String::from_utf8_lossy(&lines(4, 1)));
    }

    #[test]
    fn fitting_lines_stops_at_a_line_end() {
        assert_eq!(fitting_lines(b"ab\ncd\n", 5), 3);
        assert_eq!(fitting_lines(b"ab\ncd\n", 6), 6);
        assert_eq!(fitting_lines(b"ab\ncd\n", 100), 6);
        assert_eq!(fitting_lines(b"ab\ncd\n", 2), 0);
    }
}
