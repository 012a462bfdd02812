//! In-memory nearest-entry index per bucket, int8 vectors, oldest-first eviction.
//!
//! A bucket is the caller's hash of everything that must be identical for a hit (tenant, model,
//! embedder id, system prompt, earlier turns); only entries in the query's bucket are compared,
//! so a different bucket never matches. Lookup is a linear scan of int8 dot products, which at
//! 10,000 entries of 128 dims is about a million multiply-adds.

use std::collections::HashMap;

use super::guard::{MatchGuard, GUARD_BYTES};

/// The bucket key: a SHA-256 (or any 32-byte hash) of the exact-match context.
pub type BucketKey = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("semantic index: vector has {got} dimensions, the index holds {want}")]
    Dims { want: usize, got: usize },
    #[error("semantic index: corrupt bytes ({0})")]
    Corrupt(&'static str),
}

/// A unit vector stored as int8 with one scale: value ≈ `values[i] as f32 * scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedVector {
    pub scale: f32,
    pub values: Vec<i8>,
}

impl QuantizedVector {
    pub fn from_f32(v: &[f32]) -> QuantizedVector {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        if max == 0.0 || !max.is_finite() {
            return QuantizedVector { scale: 0.0, values: vec![0; v.len()] };
        }
        let scale = max / 127.0;
        let values = v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
        QuantizedVector { scale, values }
    }

    pub fn dims(&self) -> usize {
        self.values.len()
    }

    /// Approximate cosine similarity of two quantized unit vectors.
    pub fn similarity(&self, other: &QuantizedVector) -> f32 {
        dot_i8(&self.values, &other.values) as f32 * self.scale * other.scale
    }

    /// Per-entry encoding for row-per-entry storage: scale (f32 LE) then the int8 values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.values.len());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend(self.values.iter().map(|v| *v as u8));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<QuantizedVector, IndexError> {
        if bytes.len() < 5 {
            return Err(IndexError::Corrupt("vector shorter than scale plus one value"));
        }
        let scale = f32::from_le_bytes(bytes[..4].try_into().expect("4"));
        if !scale.is_finite() || scale < 0.0 {
            return Err(IndexError::Corrupt("vector scale"));
        }
        Ok(QuantizedVector { scale, values: bytes[4..].iter().map(|b| *b as i8).collect() })
    }
}

/// The hot loop of a lookup, written out eight wide into four independent sums: the plain
/// zip-sum is one serial dependency chain with bounds checks, which the worker's opt-level "s"
/// build neither unrolls nor vectorizes (bench/semantic/RESULTS.md).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| *x as i32 * *y as i32).sum();
    let (mut s0, mut s1, mut s2, mut s3) = (0i32, 0i32, 0i32, 0i32);
    for (x, y) in ca.zip(cb) {
        let x: &[i8; 8] = x.try_into().expect("8");
        let y: &[i8; 8] = y.try_into().expect("8");
        let m = |i: usize| x[i] as i32 * y[i] as i32;
        s0 += m(0) + m(4);
        s1 += m(1) + m(5);
        s2 += m(2) + m(6);
        s3 += m(3) + m(7);
    }
    s0 + s1 + s2 + s3 + tail
}

/// One bucket's entries in parallel arrays (contiguous vectors for a fast scan).
#[derive(Debug, Clone, Default, PartialEq)]
struct Bucket {
    values: Vec<i8>,
    scales: Vec<f32>,
    ids: Vec<u64>,
    seqs: Vec<u64>,
    guards: Vec<MatchGuard>,
}

impl Bucket {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn swap_remove(&mut self, i: usize, dims: usize) {
        let last = self.len() - 1;
        if i != last {
            let (head, tail) = self.values.split_at_mut(last * dims);
            head[i * dims..(i + 1) * dims].copy_from_slice(&tail[..dims]);
        }
        self.values.truncate(last * dims);
        self.scales.swap_remove(i);
        self.ids.swap_remove(i);
        self.seqs.swap_remove(i);
        self.guards.swap_remove(i);
    }
}

/// Entries per bucket, each an int8 vector, an entry id chosen by the caller and a [`MatchGuard`].
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticIndex {
    dims: usize,
    capacity_per_bucket: usize,
    next_seq: u64,
    buckets: HashMap<BucketKey, Bucket>,
}

const INDEX_MAGIC: &[u8; 4] = b"CRSI";
/// 2: guards carry proper names (`guard::GUARD_BYTES` grew), so a version-1 index misreads;
/// 3: guards hold 14 relation words, not 8 (it grew again).
const INDEX_VERSION: u32 = 3;

/// The most vector numbers a tenant's store holds, all its entries together. The store loads
/// them at once when it wakes, each as two hex characters in JavaScript, again in Rust, and a
/// byte in the index: ten thousand of a 3,072-number provider embedder's vectors passed the
/// object's 128 MB. About 25 MB at that peak.
pub const MAX_STORED_NUMBERS: usize = 5_120_000;

/// The most entries of `dims`-number vectors a store keeps: `max_entries`, fewer for long
/// vectors (10,000 of the static embedder's 128, 1,666 of 3,072).
pub fn max_entries_for(dims: usize, max_entries: usize) -> usize {
    max_entries.min(MAX_STORED_NUMBERS / dims.max(1)).max(1)
}

impl SemanticIndex {
    /// `capacity_per_bucket` ≥ 1; inserting into a full bucket evicts its oldest entry.
    pub fn new(dims: usize, capacity_per_bucket: usize) -> SemanticIndex {
        SemanticIndex { dims, capacity_per_bucket: capacity_per_bucket.max(1), next_seq: 0, buckets: HashMap::new() }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn len(&self, bucket: &BucketKey) -> usize {
        self.buckets.get(bucket).map_or(0, Bucket::len)
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.values().all(|b| b.len() == 0)
    }

    /// Adds an entry; returns the id of the entry evicted to make room, if any. An entry with
    /// the same id in the bucket is replaced.
    pub fn insert(&mut self, bucket: BucketKey, vector: &QuantizedVector, entry_id: u64, guard: MatchGuard) -> Result<Option<u64>, IndexError> {
        if vector.dims() != self.dims {
            return Err(IndexError::Dims { want: self.dims, got: vector.dims() });
        }
        let dims = self.dims;
        let b = self.buckets.entry(bucket).or_default();
        if let Some(i) = b.ids.iter().position(|id| *id == entry_id) {
            b.swap_remove(i, dims);
        }
        let mut evicted = None;
        if b.len() >= self.capacity_per_bucket {
            let oldest = (0..b.len()).min_by_key(|&i| b.seqs[i]).expect("full bucket is not empty");
            evicted = Some(b.ids[oldest]);
            b.swap_remove(oldest, dims);
        }
        b.values.extend_from_slice(&vector.values);
        b.scales.push(vector.scale);
        b.ids.push(entry_id);
        b.seqs.push(self.next_seq);
        b.guards.push(guard);
        self.next_seq += 1;
        Ok(evicted)
    }

    /// Removes an entry (e.g. when its cached response expired). Returns whether it was there.
    pub fn remove(&mut self, bucket: &BucketKey, entry_id: u64) -> bool {
        let dims = self.dims;
        let Some(b) = self.buckets.get_mut(bucket) else { return false };
        let Some(i) = b.ids.iter().position(|id| *id == entry_id) else { return false };
        b.swap_remove(i, dims);
        if b.len() == 0 {
            self.buckets.remove(bucket);
        }
        true
    }

    /// The most similar entry in `bucket` with a compatible guard and similarity ≥ `threshold`,
    /// or the same vector whatever the threshold (a text's quantized vector scores about 0.999
    /// against itself, so a threshold of 1.0 would otherwise match nothing); of equals, the newest
    /// (the highest id: ids grow with each insert). A zero query (text with no known token) never
    /// matches.
    pub fn best_match(&self, bucket: &BucketKey, query: &QuantizedVector, guard: &MatchGuard, threshold: f32) -> Option<(u64, f32)> {
        if query.dims() != self.dims || query.scale == 0.0 {
            return None;
        }
        let b = self.buckets.get(bucket)?;
        let mut best: Option<(u64, f32)> = None;
        for (i, row) in b.values.chunks_exact(self.dims).enumerate() {
            let sim = dot_i8(row, &query.values) as f32 * b.scales[i] * query.scale;
            // Compared only when close: the same vector scores far above 0.95.
            let same = || sim > 0.95 && b.scales[i] == query.scale && row == query.values.as_slice();
            if (sim >= threshold || same()) && b.scales[i] > 0.0 && b.guards[i].compatible(guard) && best.is_none_or(|(id, s)| sim > s || (sim == s && b.ids[i] > id)) {
                best = Some((b.ids[i], sim));
            }
        }
        best
    }

    /// Compact encoding: header, then per bucket its key and entries oldest first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(INDEX_MAGIC);
        for v in [INDEX_VERSION, self.dims as u32, self.capacity_per_bucket as u32, self.buckets.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut keys: Vec<&BucketKey> = self.buckets.keys().collect();
        keys.sort();
        for key in keys {
            let b = &self.buckets[key];
            out.extend_from_slice(key);
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            let mut order: Vec<usize> = (0..b.len()).collect();
            order.sort_by_key(|&i| b.seqs[i]);
            for i in order {
                out.extend_from_slice(&b.ids[i].to_le_bytes());
                out.extend_from_slice(&b.guards[i].to_bytes());
                out.extend_from_slice(&b.scales[i].to_le_bytes());
                out.extend(b.values[i * self.dims..(i + 1) * self.dims].iter().map(|v| *v as u8));
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SemanticIndex, IndexError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != INDEX_MAGIC {
            return Err(IndexError::Corrupt("bad magic"));
        }
        if r.u32()? != INDEX_VERSION {
            return Err(IndexError::Corrupt("unsupported version"));
        }
        let dims = r.u32()? as usize;
        let capacity = r.u32()? as usize;
        let bucket_count = r.u32()? as usize;
        if dims == 0 || dims > 4096 || capacity == 0 {
            return Err(IndexError::Corrupt("header"));
        }
        let mut index = SemanticIndex::new(dims, capacity);
        for _ in 0..bucket_count {
            let key: BucketKey = r.take(32)?.try_into().expect("32");
            if index.buckets.contains_key(&key) {
                return Err(IndexError::Corrupt("duplicate bucket"));
            }
            let n = r.u32()? as usize;
            if n > capacity {
                return Err(IndexError::Corrupt("bucket over capacity"));
            }
            for _ in 0..n {
                let id = u64::from_le_bytes(r.take(8)?.try_into().expect("8"));
                let guard = MatchGuard::from_bytes(r.take(GUARD_BYTES)?).ok_or(IndexError::Corrupt("guard"))?;
                let vector = QuantizedVector::from_bytes(r.take(4 + dims)?)?;
                index.insert(key, &vector, id, guard)?;
            }
        }
        if r.at != bytes.len() {
            return Err(IndexError::Corrupt("trailing bytes"));
        }
        Ok(index)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or(IndexError::Corrupt("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_store_keeps_fewer_long_vectors() {
        assert_eq!(max_entries_for(128, 10_000), 10_000, "the static embedder's");
        assert_eq!(max_entries_for(3_072, 10_000), 1_666);
        assert_eq!(max_entries_for(1_536, 10_000), 3_333);
        assert!(max_entries_for(3_072, 10_000) * 3_072 <= MAX_STORED_NUMBERS);
        assert_eq!(max_entries_for(usize::MAX, 10_000), 1, "one, whatever its length");
        assert_eq!(max_entries_for(0, 10_000), 10_000);
    }

    use super::*;

    fn unit(v: &[f32]) -> QuantizedVector {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        QuantizedVector::from_f32(&v.iter().map(|x| x / n).collect::<Vec<_>>())
    }

    const A: BucketKey = [1; 32];
    const B: BucketKey = [2; 32];

    #[test]
    fn dot_i8_matches_the_naive_sum_for_every_length_and_extreme_values() {
        for n in 0..40 {
            let a: Vec<i8> = (0..n).map(|i| ((i * 37 + 11) % 255 - 127) as i8).collect();
            let b: Vec<i8> = (0..n).map(|i| ((i * 91 + 5) % 255 - 127) as i8).collect();
            let naive: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            assert_eq!(dot_i8(&a, &b), naive, "n={n}");
        }
        let extreme = vec![-128i8; 1024];
        assert_eq!(dot_i8(&extreme, &extreme), 1024 * 128 * 128);
    }

    fn g() -> MatchGuard {
        MatchGuard::default()
    }

    #[test]
    fn finds_best_in_same_bucket_only() {
        let mut ix = SemanticIndex::new(3, 10);
        ix.insert(A, &unit(&[1.0, 0.0, 0.0]), 1, g()).unwrap();
        ix.insert(A, &unit(&[1.0, 0.2, 0.0]), 2, g()).unwrap();
        ix.insert(A, &unit(&[0.0, 1.0, 0.0]), 3, g()).unwrap();
        let q = unit(&[1.0, 0.25, 0.0]);
        assert_eq!(ix.best_match(&A, &q, &g(), 0.5).map(|m| m.0), Some(2));
        assert_eq!(ix.best_match(&B, &q, &g(), -1.0), None, "another bucket never matches");
    }

    #[test]
    fn threshold_boundary() {
        let mut ix = SemanticIndex::new(2, 10);
        let v = unit(&[0.6, 0.8]);
        ix.insert(A, &v, 7, g()).unwrap();
        let near = unit(&[0.62, 0.78]);
        let sim = v.similarity(&near);
        assert_eq!(ix.best_match(&A, &near, &g(), sim), Some((7, sim)), "similarity equal to the threshold hits");
        assert_eq!(ix.best_match(&A, &near, &g(), f32::from_bits(sim.to_bits() + 1)), None, "just above misses");
        // The same vector scores under 1 once quantized, and still matches at a threshold of 1.
        let own = v.similarity(&v);
        assert!(own < 1.0, "{own}");
        assert_eq!(ix.best_match(&A, &v, &g(), 1.0), Some((7, own)));
        assert_eq!(ix.best_match(&A, &near, &g(), 1.0), None, "anything else does not");
    }

    #[test]
    fn guard_must_match() {
        let mut ix = SemanticIndex::new(2, 10);
        let v = unit(&[1.0, 1.0]);
        ix.insert(A, &v, 1, MatchGuard::from_text("order 12")).unwrap();
        assert!(ix.best_match(&A, &v, &MatchGuard::from_text("order 13"), 0.0).is_none());
        assert!(ix.best_match(&A, &v, &MatchGuard::from_text("order #12"), 0.0).is_some());
    }

    #[test]
    fn zero_query_never_matches() {
        let mut ix = SemanticIndex::new(2, 10);
        ix.insert(A, &QuantizedVector::from_f32(&[0.0, 0.0]), 1, g()).unwrap();
        ix.insert(A, &unit(&[1.0, 0.0]), 2, g()).unwrap();
        assert_eq!(ix.best_match(&A, &QuantizedVector::from_f32(&[0.0, 0.0]), &g(), -1.0), None);
        assert_eq!(ix.best_match(&A, &unit(&[0.0, 1.0]), &g(), -1.0).map(|m| m.0), Some(2), "zero entry skipped");
    }

    #[test]
    fn evicts_oldest_first_and_replaces_same_id() {
        let mut ix = SemanticIndex::new(2, 3);
        for id in 1..=3 {
            assert_eq!(ix.insert(A, &unit(&[id as f32, 1.0]), id, g()).unwrap(), None);
        }
        assert_eq!(ix.insert(A, &unit(&[1.0, 1.0]), 2, g()).unwrap(), None, "same id replaces");
        assert_eq!(ix.len(&A), 3);
        assert_eq!(ix.insert(A, &unit(&[5.0, 1.0]), 4, g()).unwrap(), Some(1));
        assert_eq!(ix.insert(A, &unit(&[5.0, 1.0]), 5, g()).unwrap(), Some(3), "2 was refreshed, so 3 is oldest");
        assert_eq!(ix.len(&A), 3);
        assert_eq!(ix.len(&B), 0);
        assert!(ix.remove(&A, 4));
        assert!(!ix.remove(&A, 4));
        assert_eq!(ix.len(&A), 2);
    }

    #[test]
    fn rejects_wrong_dims() {
        let mut ix = SemanticIndex::new(3, 3);
        assert_eq!(ix.insert(A, &unit(&[1.0, 0.0]), 1, g()), Err(IndexError::Dims { want: 3, got: 2 }));
        assert_eq!(ix.best_match(&A, &unit(&[1.0, 0.0]), &g(), 0.0), None);
    }

    #[test]
    fn round_trips_and_rejects_corruption() {
        let mut ix = SemanticIndex::new(3, 2);
        ix.insert(A, &unit(&[1.0, 2.0, 3.0]), 1, MatchGuard::from_text("not 5")).unwrap();
        ix.insert(A, &unit(&[3.0, 2.0, 1.0]), 2, g()).unwrap();
        ix.insert(B, &unit(&[0.0, 2.0, 1.0]), 9, g()).unwrap();
        let bytes = ix.to_bytes();
        let back = SemanticIndex::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        // eviction order survives: inserting into full bucket A evicts 1 (oldest)
        let mut back = back;
        assert_eq!(back.insert(A, &unit(&[1.0, 1.0, 1.0]), 3, g()).unwrap(), Some(1));
        for cut in 0..bytes.len() {
            assert!(SemanticIndex::from_bytes(&bytes[..cut]).is_err());
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xA5;
            let _ = SemanticIndex::from_bytes(&b);
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(SemanticIndex::from_bytes(&extra).is_err());
    }

    #[test]
    fn vector_round_trip() {
        let v = unit(&[0.3, -0.4, 0.5]);
        assert_eq!(QuantizedVector::from_bytes(&v.to_bytes()).unwrap(), v);
        assert!(QuantizedVector::from_bytes(&[0; 4]).is_err());
        assert!(QuantizedVector::from_bytes(&[0xff, 0xff, 0xff, 0xff, 1]).is_err(), "NaN scale");
    }
}
