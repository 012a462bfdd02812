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

/// The peak bytes held while `inputs` texts are embedded by Gemini and written as the client
/// asked, and the answer.
fn embed_through_gemini(inputs: usize, base64: bool) -> (usize, serde_json::Value) {
    let catalog = Catalog::from_json(r#"{"version":1,"providers":{"gemini":{"kind":"gemini","base_url":"https://generativelanguage.googleapis.com/v1beta","key_secret":"GEMINI_API_KEY"}},"models":{},"aliases":{}}"#).unwrap();
    let provider = &catalog.providers["gemini"];
    let target = Target { provider, upstream_model: "gemini-embedding-001", api_key: None };
    let adapter = adapter_for(provider.kind);
    let texts: Vec<String> = (0..inputs).map(|i| format!("document {i}")).collect();
    let format = if base64 { "base64" } else { "float" };
    let request = EmbeddingsRequest::parse(serde_json::json!({"model": "embed", "input": texts, "encoding_format": format}).to_string().as_bytes()).unwrap();
    let batches = embeddings_batches(&request, adapter.embeddings_batch_limit());
    assert_eq!(batches.len(), inputs.div_ceil(100));

    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    // As the edge does: each batch's answer read as it comes, then merged, encoded and written.
    let mut answers = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        answers.push(adapter.embeddings_response(&target, gemini_answer(batch.input_count(), i)).unwrap());
    }
    let mut answer = EmbeddingsAnswer::merged(answers);
    if base64 {
        answer.encode_base64();
    }
    answer.report_tokens(4096);
    let bytes = answer.into_bytes();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    (peak, serde_json::from_slice(&bytes).unwrap())
}

const MB: usize = 1 << 20;

// One test: the counter is the process's, and tests run in parallel threads.
#[test]
fn gemini_vectors_of_3072_numbers() {
    two_thousand_as_base64();
    a_thousand_as_floats();
}

fn two_thousand_as_base64() {
    let (peak, json) = embed_through_gemini(2048, true);
    assert_eq!(json["data"].as_array().unwrap().len(), 2048);
    assert_eq!(json["data"][2047]["index"], 2047);
    assert_eq!(json["data"][0]["embedding"].as_str().unwrap().len(), DIMENSIONS * 4 * 4 / 3);
    // The vectors as f32s (25 MB) and the answer as base64 (33 MB), with one batch's text.
    assert!(peak < 80 * MB, "held at most {} MB", peak / MB);
}

fn a_thousand_as_floats() {
    // Floats are text: 1,000 vectors of 3,072 are some 40 MB of answer (2,048 of them, 80 MB,
    // pass a Worker's memory with its copy into JavaScript, whatever the provider: such a client
    // asks for base64, as the SDKs do, or sends fewer inputs a request).
    let (peak, json) = embed_through_gemini(1000, false);
    assert_eq!(json["data"][999]["embedding"].as_array().unwrap().len(), DIMENSIONS);
    assert!(peak < 64 * MB, "held at most {} MB", peak / MB);
}
