//! The largest embeddings request a client may send, answered by Gemini in batches, stays far
//! below a Worker's 128 MB: the vectors are read into numbers and the client's JSON written once
//! (`providers::EmbeddingsAnswer`). Read into JSON trees, merged and then encoded, the same answer
//! took about 320 MB in wasm, and a few hundred inputs killed the isolate.
//!
//! A test binary of its own: its allocator counts the most bytes held at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use costrouter::api::embeddings::EmbeddingsRequest;
use costrouter::catalog::Catalog;
use costrouter::providers::{adapter_for, embeddings_batches, EmbeddingsAnswer, Target};

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(held, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DIMENSIONS: usize = 3072;

/// Gemini's `batchEmbedContents` answer to `inputs` texts, as its bytes.
fn gemini_answer(inputs: usize, batch: usize) -> Vec<u8> {
    let mut out = String::from("{\"embeddings\": [");
    for i in 0..inputs {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"values\": [");
        for d in 0..DIMENSIONS {
            if d > 0 {
                out.push(',');
            }
            // Numbers as Google writes them (float32s, nine significant digits).
            out.push_str(&format!("{:.9}", ((batch * 7 + i * 13 + d) % 1000) as f64 / 1000.0 - 0.5));
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out.into_bytes()
}

#[test]
fn two_thousand_gemini_vectors_of_3072_numbers_as_base64() {
    let catalog = Catalog::from_json(r#"{"version":1,"providers":{"gemini":{"kind":"gemini","base_url":"https://generativelanguage.googleapis.com/v1beta","key_secret":"GEMINI_API_KEY"}},"models":{},"aliases":{}}"#).unwrap();
    let provider = &catalog.providers["gemini"];
    let target = Target { provider, upstream_model: "gemini-embedding-001", api_key: None };
    let adapter = adapter_for(provider.kind);
    let texts: Vec<String> = (0..2048).map(|i| format!("document {i}")).collect();
    let request = EmbeddingsRequest::parse(serde_json::json!({"model": "embed", "input": texts, "encoding_format": "base64"}).to_string().as_bytes()).unwrap();
    let batches = embeddings_batches(&request, adapter.embeddings_batch_limit());
    assert_eq!(batches.len(), 21);

    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    // As the edge does: each batch's answer read as it comes, then merged, encoded and written.
    let mut answers = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        answers.push(adapter.embeddings_response(&target, gemini_answer(batch.input_count(), i)).unwrap());
    }
    let mut answer = EmbeddingsAnswer::merged(answers);
    answer.encode_base64();
    answer.report_tokens(4096);
    let bytes = answer.into_bytes();
    let peak = PEAK.load(Ordering::Relaxed) - before;

    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["data"].as_array().unwrap().len(), 2048);
    assert_eq!(json["data"][2047]["index"], 2047);
    assert_eq!(json["data"][0]["embedding"].as_str().unwrap().len(), DIMENSIONS * 4 * 4 / 3);
    // The vectors as f32s (25 MB) and the answer as base64 (33 MB), with one batch's text.
    const MB: usize = 1 << 20;
    assert!(peak < 80 * MB, "held at most {} MB", peak / MB);
}
