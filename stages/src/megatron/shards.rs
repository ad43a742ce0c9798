//! Megatron-LM's indexed dataset (`MMIDIDX`), the format `tokenize` writes so its shards
//! feed Megatron-LM unchanged. Layout of the `.idx` file, little-endian
//! (`megatron/core/datasets/indexed_dataset.py`):
//!
//! | bytes | content |
//! |---|---|
//! | 9 | magic `MMIDIDX\0\0` |
//! | 8 | version, u64 = 1 |
//! | 1 | dtype code (1 u8, 2 i8, 3 i16, 4 i32, 5 i64, 6 f64, 7 f32, 8 u16) |
//! | 8 | sequence count, u64 |
//! | 8 | document-index count, u64 (documents + 1) |
//! | 4 × sequences | sequence lengths, i32 (tokens) |
//! | 8 × sequences | sequence pointers, i64 (byte offsets into `.bin`) |
//! | 8 × (documents + 1) | document indices, i64: the first sequence of each document, then the total |
//!
//! The `.bin` file is the tokens of every sequence, back to back, in the dtype. Each
//! document here is one sequence (no sentence splitting), as Megatron's
//! `preprocess_data.py` writes it without `--split-sentences`.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";
pub const VERSION: u64 = 1;

/// Token dtypes used for text: Megatron picks `uint16` below 65,500 token ids, else `int32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    U16,
    I32,
}

impl Dtype {
    pub fn for_vocab(size: usize) -> Dtype {
        if size < 65_500 {
            Dtype::U16
        } else {
            Dtype::I32
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Dtype::U16 => 8,
            Dtype::I32 => 4,
        }
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::U16 => 2,
            Dtype::I32 => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<Dtype> {
        match code {
            8 => Some(Dtype::U16),
            4 => Some(Dtype::I32),
            _ => None,
        }
    }
}

/// Writes one `.bin`/`.idx` pair.
pub struct Writer {
    prefix: PathBuf,
    bin: BufWriter<File>,
    dtype: Dtype,
    lengths: Vec<i32>,
    pointers: Vec<i64>,
    offset: i64,
    pub tokens: u64,
}

impl Writer {
    pub fn create(prefix: &Path, dtype: Dtype) -> std::io::Result<Writer> {
        let bin = BufWriter::new(File::create(prefix.with_extension("bin"))?);
        Ok(Writer {
            prefix: prefix.to_path_buf(),
            bin,
            dtype,
            lengths: Vec::new(),
            pointers: Vec::new(),
            offset: 0,
            tokens: 0,
        })
    }

    /// Appends one document as one sequence.
    pub fn add(&mut self, ids: &[u32]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(ids.len() * self.dtype.size());
        for &id in ids {
            match self.dtype {
                Dtype::U16 => buf.extend_from_slice(&(id as u16).to_le_bytes()),
                Dtype::I32 => buf.extend_from_slice(&(id as i32).to_le_bytes()),
            }
        }
        self.bin.write_all(&buf)?;
        self.pointers.push(self.offset);
        self.lengths.push(ids.len() as i32);
        self.offset += buf.len() as i64;
        self.tokens += ids.len() as u64;
        Ok(())
    }

    pub fn documents(&self) -> usize {
        self.lengths.len()
    }

    /// Writes the index and syncs both files.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.bin.flush()?;
        self.bin.get_ref().sync_all()?;
        let mut idx = BufWriter::new(File::create(self.prefix.with_extension("idx"))?);
        let n = self.lengths.len() as u64;
        idx.write_all(MAGIC)?;
        idx.write_all(&VERSION.to_le_bytes())?;
        idx.write_all(&[self.dtype.code()])?;
        idx.write_all(&n.to_le_bytes())?;
        idx.write_all(&(n + 1).to_le_bytes())?;
        for l in &self.lengths {
            idx.write_all(&l.to_le_bytes())?;
        }
        for p in &self.pointers {
            idx.write_all(&p.to_le_bytes())?;
        }
        for d in 0..=n as i64 {
            idx.write_all(&d.to_le_bytes())?;
        }
        idx.flush()?;
        idx.get_ref().sync_all()
    }
}

/// A `.bin`/`.idx` pair read back: for tests, `exp show` and the trainer.
#[derive(Debug)]
pub struct Dataset {
    pub dtype: Dtype,
    pub lengths: Vec<i32>,
    pub pointers: Vec<i64>,
    pub document_indices: Vec<i64>,
    bin: Vec<u8>,
}

impl Dataset {
    pub fn open(prefix: &Path) -> Result<Dataset, String> {
        let idx_path = prefix.with_extension("idx");
        let mut idx = Vec::new();
        File::open(&idx_path)
            .and_then(|mut f| f.read_to_end(&mut idx))
            .map_err(|e| format!("{}: {e}", idx_path.display()))?;
        let bad = |what: &str| format!("{}: {what}", idx_path.display());
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = idx.get(at..at + n).ok_or_else(|| bad("cut short"))?;
            at += n;
            Ok(s)
        };
        if take(9)? != MAGIC {
            return Err(bad("not an MMIDIDX index"));
        }
        let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        if u64_at(take(8)?) != VERSION {
            return Err(bad("unknown version"));
        }
        let dtype = Dtype::from_code(take(1)?[0]).ok_or_else(|| bad("unsupported dtype"))?;
        let sequences = u64_at(take(8)?) as usize;
        let documents = u64_at(take(8)?) as usize;
        let lengths =
            take(4 * sequences)?.chunks(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let pointers =
            take(8 * sequences)?.chunks(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let document_indices =
            take(8 * documents)?.chunks(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let bin_path = prefix.with_extension("bin");
        let bin = std::fs::read(&bin_path).map_err(|e| format!("{}: {e}", bin_path.display()))?;
        Ok(Dataset { dtype, lengths, pointers, document_indices, bin })
    }

    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The tokens of sequence `i`.
    pub fn get(&self, i: usize) -> Vec<u32> {
        let start = self.pointers[i] as usize;
        let n = self.lengths[i] as usize;
        let size = self.dtype.size();
        self.bin[start..start + n * size]
            .chunks(size)
            .map(|c| match self.dtype {
                Dtype::U16 => u16::from_le_bytes([c[0], c[1]]) as u32,
                Dtype::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u32,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_documented_layout_and_reads_it_back() {
        let dir = tempfile::tempdir().expect("temp");
        let prefix = dir.path().join("data");
        for (dtype, vocab) in [(Dtype::U16, 32_000), (Dtype::I32, 99_574)] {
            assert_eq!(Dtype::for_vocab(vocab), dtype);
            let mut w = Writer::create(&prefix, dtype).expect("create");
            let docs: [&[u32]; 3] = [&[5, 6, 7, 2], &[9, 2], &[99_000 % 65_000, 1, 2, 3, 2]];
            for d in docs {
                w.add(d).expect("add");
            }
            w.finish().expect("finish");
            let idx = std::fs::read(prefix.with_extension("idx")).expect("idx");
            assert_eq!(&idx[..9], MAGIC);
            assert_eq!(u64::from_le_bytes(idx[9..17].try_into().expect("8")), 1);
            assert_eq!(idx[17], dtype.code());
            assert_eq!(u64::from_le_bytes(idx[18..26].try_into().expect("8")), 3);
            assert_eq!(u64::from_le_bytes(idx[26..34].try_into().expect("8")), 4);
            assert_eq!(idx.len(), 34 + 3 * 4 + 3 * 8 + 4 * 8);
            let bin = std::fs::metadata(prefix.with_extension("bin")).expect("bin").len();
            assert_eq!(bin as usize, 11 * dtype.size());
            let ds = Dataset::open(&prefix).expect("read back");
            assert_eq!(ds.lengths, [4, 2, 5]);
            assert_eq!(ds.pointers, [0, 4 * dtype.size() as i64, 6 * dtype.size() as i64]);
            assert_eq!(ds.document_indices, [0, 1, 2, 3]);
            for (i, d) in docs.iter().enumerate() {
                assert_eq!(ds.get(i), *d);
            }
        }
    }

    #[test]
    fn a_cut_index_is_an_error() {
        let dir = tempfile::tempdir().expect("temp");
        let prefix = dir.path().join("data");
        let mut w = Writer::create(&prefix, Dtype::U16).expect("create");
        w.add(&[1, 2]).expect("add");
        w.finish().expect("finish");
        let idx = std::fs::read(prefix.with_extension("idx")).expect("idx");
        std::fs::write(prefix.with_extension("idx"), &idx[..idx.len() - 3]).expect("cut");
        assert!(Dataset::open(&prefix).expect_err("cut").contains("cut short"));
    }
}
