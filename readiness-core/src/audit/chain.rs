//! The writing end of a file trail: where the chain stands, and how it resumes
//! from what an earlier process left.

use std::fs::File;
use std::io::{self, Read as _, Write};
use std::path::Path;

use serde_json::Value;

use super::record::{self, line_hash, log_checkpoint, Built, Links, Tail, GENESIS};
use super::Checkpoint;

/// The writing end: the file and where the chain stands.
pub(super) struct Chain {
    pub(super) out: Box<dyn Write + Send>,
    pub(super) file: Option<File>,
    pub(super) sync: bool,
    pub(super) links: Links,
    /// The file's length after the last whole line: a write cut short is cut
    /// back to it, so the next record starts on a line of its own.
    pub(super) len: u64,
    /// Checkpoints written but not yet synced: logged once they are on disk.
    pub(super) unlogged: Vec<Built>,
    /// The next record is preceded by a checkpoint: the chain is new (the
    /// checkpoint is its signed promise of the interval), or an earlier process
    /// left records after its last checkpoint.
    pub(super) open: bool,
}

impl Chain {
    /// Writes `built` and moves the chain on to it.
    fn write(&mut self, built: &Built) -> io::Result<()> {
        let mut line = Vec::with_capacity(built.line.len() + 1);
        line.extend_from_slice(built.line.as_bytes());
        line.push(b'\n');
        if let Err(error) = self.out.write_all(&line) {
            // Part of the line may be in the file (a disk filling up): cut it off.
            if let Some(file) = &self.file {
                let _ = file.set_len(self.len);
            }
            return Err(error);
        }
        self.len += line.len() as u64;
        self.links.advance(built);
        Ok(())
    }

    /// Appends one record of `kind` carrying `body` under `key`.
    pub(super) fn append(&mut self, kind: &'static str, key: &str, body: &Value) -> io::Result<()> {
        let built = self.links.build(kind, key, body);
        self.write(&built)
    }

    pub(super) fn append_unsynced(&mut self, fields: &Value) -> io::Result<()> {
        if self.open {
            self.checkpoint_unsynced()?;
            self.open = false;
        }
        self.append("event", "event", fields)?;
        if self.links.checkpoint_due() {
            self.checkpoint_unsynced()?;
        }
        Ok(())
    }

    pub(super) fn append_event(&mut self, fields: &Value) -> io::Result<()> {
        self.append_unsynced(fields)?;
        self.sync_now()
    }

    pub(super) fn sync_now(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if let (true, Some(file)) = (self.sync, &self.file) {
            file.sync_data()?;
        }
        // Only what is on disk goes out as an anchor.
        self.unlogged
            .drain(..)
            .for_each(|built| log_checkpoint(&built));
        Ok(())
    }

    fn checkpoint_unsynced(&mut self) -> io::Result<Checkpoint> {
        let covered = Checkpoint {
            seq: self.links.seq,
            hash: self.links.last_hash.clone(),
        };
        let built = self.links.build_checkpoint();
        self.write(&built)?;
        self.unlogged.push(built);
        Ok(covered)
    }

    /// A checkpoint, synced; none on a trail with nothing to cover yet.
    pub(super) fn checkpoint(&mut self) -> io::Result<Checkpoint> {
        if self.links.seq == 0 {
            return Ok(Checkpoint {
                seq: 0,
                hash: GENESIS.to_owned(),
            });
        }
        let checkpoint = self.checkpoint_unsynced()?;
        self.open = false;
        self.sync_now()?;
        Ok(checkpoint)
    }
}

/// Where an existing trail stands.
#[derive(Default)]
pub(super) struct Resume {
    /// The last intact record; `promised` is set when it is a checkpoint, and the
    /// events after the last checkpoint are then none.
    pub(super) tail: Tail,
    /// Why the chain cannot simply go on (an unreadable tail), and the SHA-256 of
    /// the lines it skips, so they are covered too.
    pub(super) broken: Option<(String, String)>,
    /// The file ends inside a line (a write cut short).
    pub(super) partial_line: bool,
}

impl Resume {
    /// Reads the file's tail (a window that grows until it holds a whole valid
    /// record, so a year-long trail is not read into memory at start-up).
    pub(super) fn read(path: &Path) -> io::Result<Self> {
        use std::io::{Seek as _, SeekFrom};
        let mut resume = Self::default();
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(resume),
            Err(error) => return Err(error),
        };
        let metadata = file.metadata()?;
        // A device or a pipe (`/dev/full`, say) has nothing to resume.
        if !metadata.is_file() || metadata.len() == 0 {
            return Ok(resume);
        }
        let size = metadata.len();
        let mut window: u64 = 64 * 1024;
        loop {
            let from = size.saturating_sub(window);
            file.seek(SeekFrom::Start(from))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            resume.partial_line = !bytes.ends_with(b"\n");
            // Unless the window starts the file, its first line may be cut.
            let whole = if from == 0 {
                &bytes[..]
            } else {
                match memchr::memchr(b'\n', &bytes) {
                    Some(at) => &bytes[at + 1..],
                    None => &[][..],
                }
            };
            let mut skipped = Vec::new();
            let mut found = None;
            for line in record::lines(whole).into_iter().rev() {
                if let Some(tail) = valid_record(line) {
                    found = Some(tail);
                    break;
                }
                skipped.push(line);
            }
            skipped.reverse();
            match found {
                Some(tail) => resume.tail = tail,
                // Nothing valid in the window: a larger one, up to the whole file.
                None if from > 0 => {
                    window = window.saturating_mul(4);
                    continue;
                }
                None => {}
            }
            if !skipped.is_empty() {
                let bytes: usize = skipped.iter().map(|l| l.len()).sum();
                resume.broken = Some((
                    format!(
                        "unreadable tail of {bytes} bytes after seq {}",
                        resume.tail.seq
                    ),
                    record::skipped_digest(&skipped),
                ));
            }
            return Ok(resume);
        }
    }
}

/// Where the chain stands after `line`, when it is a whole, intact record: its
/// `seq` and `hash`, and for a checkpoint the `every` it promised.
fn valid_record(line: &[u8]) -> Option<Tail> {
    let record: Value = serde_json::from_slice(line).ok()?;
    let seq = record.get("seq")?.as_u64()?;
    let (claimed, matches) = line_hash(line)?;
    let stored = record.get("hash")?.as_str()?;
    let every = record.pointer("/checkpoint/every").and_then(Value::as_u64);
    (matches && claimed == stored).then(|| Tail {
        seq,
        hash: stored.to_owned(),
        since: 0,
        promised: every,
    })
}
