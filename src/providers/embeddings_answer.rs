//! An embeddings answer on its way to the client, kept small: an OpenAI-shaped answer as the
//! bytes it came in, another provider's vectors as numbers, and the client's JSON written once,
//! at the end, only when something in it must change.
//!
//! As a JSON tree, each number of a vector takes a 48-byte `Value` in wasm: 700 Gemini vectors of
//! 3,072 numbers built that way (and merged, then encoded) passed a Worker's 128 MB, and failed
//! every request in flight on the isolate. As `f32`s they take 4 bytes each.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::api::embeddings::{base64_of_f32s, EmbeddingsRequest};
use crate::usage::Usage;

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsAnswer {
    /// The answers of the request's batches, in order.
    parts: Vec<Part>,
    /// `None` when the provider reported no usage; the caller then estimates and says so.
    pub usage: Option<Usage>,
    /// Token counts the body reports in place of the provider's (the billed estimate).
    reported_tokens: Option<u64>,
    /// Vectors go as base64 (the client asked, and some came as numbers).
    base64: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// OpenAI's shape, as the provider sent it.
    Raw(RawEmbeddings),
    /// Vectors read as numbers, from a provider whose answer is not in OpenAI's shape.
    Vectors { model: String, vectors: Vec<Vec<f32>> },
}

/// An OpenAI-shaped embeddings answer as the provider sent it, read only for its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEmbeddings {
    pub bytes: Vec<u8>,
    pub vectors: usize,
    /// Some vector is an array of numbers (not base64).
    pub floats: bool,
}

/// An OpenAI-shaped answer read with its vectors left as the text they are.
#[derive(Deserialize)]
struct RawList<'a> {
    #[serde(borrow)]
    data: Vec<RawItem<'a>>,
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct RawItem<'a> {
    /// Read as any value: a host's `"0"` or `0.0` is no reason to lose the batch.
    #[serde(default)]
    index: Option<Value>,
    #[serde(borrow, default)]
    embedding: Option<&'a RawValue>,
}

/// What an OpenAI-shaped answer holds, read with the same reader [`EmbeddingsAnswer::into_bytes`]
/// rewrites it with (so an answer taken is one that can be rewritten).
pub struct OpenAiShape {
    pub vectors: usize,
    /// Some vector is an array of numbers (not base64).
    pub floats: bool,
    pub usage: Option<Value>,
}

pub fn read_openai_shape(bytes: &[u8]) -> Result<OpenAiShape, serde_json::Error> {
    let list: RawList = serde_json::from_slice(bytes)?;
    let floats = list.data.iter().any(|item| item.embedding.is_some_and(|e| e.get().starts_with('[')));
    Ok(OpenAiShape { vectors: list.data.len(), floats, usage: list.usage })
}

impl EmbeddingsAnswer {
    /// An answer in OpenAI's shape, passed on as it came unless something in it must change.
    pub fn raw(raw: RawEmbeddings, usage: Option<Usage>) -> EmbeddingsAnswer {
        EmbeddingsAnswer { parts: vec![Part::Raw(raw)], usage, reported_tokens: None, base64: false }
    }

    /// Vectors read from a provider whose answer is not in OpenAI's shape.
    pub fn vectors(model: &str, vectors: Vec<Vec<f32>>, usage: Option<Usage>) -> EmbeddingsAnswer {
        EmbeddingsAnswer { parts: vec![Part::Vectors { model: model.to_string(), vectors }], usage, reported_tokens: None, base64: false }
    }

    /// The answers to [`super::embeddings_batches`], in the same order, as one answer to the whole
    /// request: the vectors in order, each `index` counted across batches, and usage summed. Usage
    /// stays unknown if any batch reported none, so the caller estimates the whole request rather
    /// than price part of it. A single answer is returned untouched.
    pub fn merged(answers: Vec<EmbeddingsAnswer>) -> EmbeddingsAnswer {
        let mut answers = answers.into_iter();
        let Some(mut merged) = answers.next() else { return EmbeddingsAnswer::vectors("", Vec::new(), None) };
        for answer in answers {
            merged.parts.extend(answer.parts);
            merged.usage = merged.usage.zip(answer.usage).map(|(a, b)| a.plus(&b));
        }
        merged
    }

    /// How many vectors the answer holds.
    pub fn vector_count(&self) -> usize {
        self.parts.iter().map(|p| match p {
            Part::Raw(raw) => raw.vectors,
            Part::Vectors { vectors, .. } => vectors.len(),
        }).sum()
    }

    /// Whether some vector is an array of numbers (to encode when the client asked for base64).
    pub fn has_float_vectors(&self) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Raw(raw) => raw.floats,
            Part::Vectors { .. } => true,
        })
    }

    /// OpenAI's `encoding_format: "base64"`: each vector goes as the base64 of its little-endian
    /// float32s. Providers that only return numbers (Gemini) are converted, so clients that ask
    /// for base64 get it: the OpenAI Node SDK asks for base64 by default and decodes whatever
    /// string it receives, so an array would silently become a garbage vector. Vectors already
    /// in base64 stay as they are.
    pub fn encode_base64(&mut self) {
        self.base64 = true;
    }

    /// The body's usage reports `tokens` (what the request is billed for), not the provider's.
    pub fn report_tokens(&mut self, tokens: u64) {
        self.reported_tokens = Some(tokens);
    }

    /// The usage the provider reported for `req`, else what `model` reads of its inputs.
    pub fn usage_or_estimate(&self, req: &EmbeddingsRequest, model: &str) -> Usage {
        self.usage.unwrap_or_else(|| Usage { input_tokens: req.input_tokens_for(model), ..Usage::default() })
    }

    /// The first vector, if it came as numbers.
    pub fn first_vector(&self) -> Option<Vec<f32>> {
        match self.parts.first()? {
            Part::Vectors { vectors, .. } => vectors.first().cloned(),
            Part::Raw(raw) => {
                let list: RawList = serde_json::from_slice(&raw.bytes).ok()?;
                serde_json::from_str(list.data.first()?.embedding?.get()).ok()
            }
        }
    }

    /// The answer's bytes for the client: the provider's own when nothing changes.
    pub fn into_bytes(self) -> Vec<u8> {
        let EmbeddingsAnswer { parts, reported_tokens, base64, .. } = self;
        let untouched = reported_tokens.is_none() && matches!(&parts[..], [Part::Raw(raw)] if !(base64 && raw.floats));
        let mut parts = parts.into_iter();
        if untouched {
            if let Some(Part::Raw(raw)) = parts.next() {
                return raw.bytes;
            }
        }
        // Written into one buffer of about its final size: grown by doubling, the last growth
        // would hold the old buffer and one twice its size at once.
        let mut out = Vec::with_capacity(256 + parts.as_slice().iter().map(|p| written_size(p, base64)).sum::<usize>());
        out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
        let mut model: Option<Value> = None;
        let mut usage: Option<Map<String, Value>> = None;
        let mut offset = 0u64;
        let mut first = true;
        let mut item = |out: &mut Vec<u8>, index: u64, write_embedding: &mut dyn FnMut(&mut Vec<u8>)| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.extend_from_slice(format!("{{\"object\":\"embedding\",\"index\":{index},\"embedding\":").as_bytes());
            write_embedding(out);
            out.push(b'}');
        };
        for part in parts {
            match part {
                Part::Raw(raw) => {
                    // Read once already, when it came (`openai::embeddings_answer`), so it parses.
                    let Ok(list) = serde_json::from_slice::<RawList>(&raw.bytes) else { continue };
                    model.get_or_insert(list.model.unwrap_or(Value::Null));
                    if let Some(Value::Object(counts)) = list.usage {
                        add_counts(&mut usage, counts);
                    }
                    for (position, it) in list.data.iter().enumerate() {
                        let index = offset + it.index.as_ref().and_then(Value::as_u64).unwrap_or(position as u64);
                        item(&mut out, index, &mut |out| write_raw_vector(out, it.embedding, base64));
                    }
                    offset += list.data.len() as u64;
                }
                Part::Vectors { model: name, vectors } => {
                    model.get_or_insert(Value::String(name));
                    for (position, vector) in vectors.iter().enumerate() {
                        item(&mut out, offset + position as u64, &mut |out| write_vector(out, vector, base64));
                    }
                    offset += vectors.len() as u64;
                }
            }
        }
        out.extend_from_slice(b"],\"model\":");
        out.extend_from_slice(model.unwrap_or(Value::Null).to_string().as_bytes());
        let usage = match reported_tokens {
            Some(tokens) => serde_json::json!({"prompt_tokens": tokens, "total_tokens": tokens}),
            None => usage.map_or_else(|| serde_json::json!({"prompt_tokens": 0, "total_tokens": 0}), Value::Object),
        };
        out.extend_from_slice(b",\"usage\":");
        out.extend_from_slice(usage.to_string().as_bytes());
        out.push(b'}');
        out
    }
}

/// About what a part takes written out, at most: a raw answer its own size (less than half when
/// its numbers go as base64: some 12 bytes of text a number become 5.3), vectors by their
/// numbers (up to 15 bytes a float32 as shortest text with its comma, 12.6 on average for a
/// unit vector of 3,072; 4/3 of its 4 bytes as base64).
fn written_size(part: &Part, base64: bool) -> usize {
    match part {
        Part::Raw(raw) if base64 && raw.floats => raw.bytes.len() / 2,
        Part::Raw(raw) => raw.bytes.len(),
        Part::Vectors { vectors, .. } => vectors.iter().map(|v| 64 + if base64 { (v.len() * 4).div_ceil(3) * 4 } else { v.len() * 15 }).sum(),
    }
}

/// Adds a batch's usage counts to the sum: the first batch's fields, each summed while every
/// batch has it as a count.
fn add_counts(sum: &mut Option<Map<String, Value>>, counts: Map<String, Value>) {
    let Some(total) = sum else {
        *sum = Some(counts);
        return;
    };
    for (field, count) in counts {
        if let (Some(so_far), Some(count)) = (total.get(&field).and_then(Value::as_u64), count.as_u64()) {
            total.insert(field, Value::from(so_far.saturating_add(count)));
        }
    }
}

/// A vector as the provider wrote it; as base64 if asked and it is an array of numbers.
fn write_raw_vector(out: &mut Vec<u8>, embedding: Option<&RawValue>, base64: bool) {
    let Some(raw) = embedding else {
        out.extend_from_slice(b"null");
        return;
    };
    if base64 && raw.get().starts_with('[') {
        if let Some(numbers) = serde_json::from_str::<Vec<f32>>(raw.get()).ok().or_else(|| floats_past_range(raw.get())) {
            write_vector(out, &numbers, true);
            return;
        }
    }
    out.extend_from_slice(raw.get().as_bytes());
}

/// An array of numbers some of which are past a float's range (`-2e97431`, which serde_json
/// refuses and JavaScript's `JSON.parse` reads as -Infinity), read as JavaScript would, so that a
/// client that asked for base64 gets base64 rather than the provider's text.
fn floats_past_range(text: &str) -> Option<Vec<f32>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|n| n.trim().parse::<f32>().ok()).collect()
}

fn write_vector(out: &mut Vec<u8>, vector: &[f32], base64: bool) {
    if base64 {
        out.push(b'"');
        out.extend_from_slice(base64_of_f32s(vector).as_bytes());
        out.push(b'"');
        return;
    }
    out.push(b'[');
    for (i, x) in vector.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // An f32's shortest text that reads back as it (serde_json writes floats with ryu).
        let _ = serde_json::to_writer(&mut *out, x);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(body: Value) -> EmbeddingsAnswer {
        crate::providers::openai::embeddings_answer("openai", body.to_string().into_bytes()).unwrap()
    }

    fn body(answer: EmbeddingsAnswer) -> Value {
        serde_json::from_slice(&answer.into_bytes()).unwrap()
    }

    #[test]
    fn merged_answers_count_indices_across_batches_and_sum_usage() {
        let batch = |vectors: &[f32], tokens: u64| {
            let data: Vec<Value> = vectors.iter().enumerate().map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": [v]})).collect();
            raw(json!({"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
        };
        let merged = EmbeddingsAnswer::merged(vec![batch(&[0.0, 1.0], 5), batch(&[2.0], 3), batch(&[3.0, 4.0], 4)]);
        assert_eq!((merged.vector_count(), merged.usage), (5, Some(Usage { input_tokens: 12, ..Usage::default() })));
        let json = body(merged);
        let data = json["data"].as_array().unwrap();
        assert_eq!(data.iter().map(|d| d["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(data.iter().map(|d| d["embedding"][0].as_f64().unwrap()).collect::<Vec<_>>(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!((&json["usage"], &json["model"], &json["object"]), (&json!({"prompt_tokens": 12, "total_tokens": 12}), &json!("m"), &json!("list")));
        assert_eq!(EmbeddingsAnswer::merged(vec![batch(&[7.0], 2)]), batch(&[7.0], 2), "one answer is untouched");
        // One batch without reported usage leaves the whole to the estimate.
        let unreported = raw(json!({"data": [{"embedding": [2.0]}]}));
        assert_eq!(EmbeddingsAnswer::merged(vec![batch(&[1.0], 5), unreported]).usage, None);
    }

    #[test]
    fn an_answer_is_passed_on_as_it_came_unless_it_must_change() {
        let floats = json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [1.0, -2.0]}], "model": "m", "usage": {"prompt_tokens": 5, "total_tokens": 5}, "id": "x"});
        assert_eq!(raw(floats.clone()).into_bytes(), floats.to_string().into_bytes());
        // Asked for base64: 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0 (little-endian).
        let mut encoded = raw(floats.clone());
        encoded.encode_base64();
        assert_eq!(body(encoded)["data"][0]["embedding"], "AACAPwAAAMA=");
        // A number past a float's range (found by fuzzing): base64 still, of -Infinity as
        // JavaScript reads it, not the provider's text, which serde_json cannot read back.
        let past = br#"{"data": [{"embedding": [1.0, -0.2E97431]}], "usage": {"total_tokens": 3}}"#.to_vec();
        let mut past = crate::providers::openai::embeddings_answer("openai", past).unwrap();
        past.encode_base64();
        assert_eq!(body(past)["data"][0]["embedding"], "AACAPwAAgP8=");
        // Already base64: as it came.
        let b64 = json!({"data": [{"embedding": "AACAPwAAAMA="}], "usage": {"total_tokens": 3}});
        let mut same = raw(b64.clone());
        same.encode_base64();
        assert_eq!(same.into_bytes(), b64.to_string().into_bytes());
        // The billed estimate in place of a host's missing or zero counts.
        let mut estimated = raw(floats);
        estimated.report_tokens(9);
        let json = body(estimated);
        assert_eq!((&json["usage"], &json["data"][0]["embedding"]), (&json!({"prompt_tokens": 9, "total_tokens": 9}), &json!([1.0, -2.0])));
    }

    #[test]
    fn vectors_are_written_as_numbers_or_base64() {
        let answer = EmbeddingsAnswer::vectors("gemini-embedding-001", vec![vec![0.6, 0.8], vec![0.0, -1.0]], None);
        assert_eq!(answer.first_vector(), Some(vec![0.6, 0.8]));
        assert_eq!(body(answer.clone()), json!({"object": "list", "model": "gemini-embedding-001", "usage": {"prompt_tokens": 0, "total_tokens": 0}, "data": [
            {"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}, {"object": "embedding", "index": 1, "embedding": [0.0, -1.0]}]}));
        let mut encoded = answer;
        encoded.encode_base64();
        assert_eq!(body(encoded)["data"][1]["embedding"], base64_of_f32s(&[0.0, -1.0]));
        assert_eq!(raw(json!({"data": [{"embedding": [0.5, 0.25]}]})).first_vector(), Some(vec![0.5, 0.25]));
    }

    #[test]
    fn a_hosts_odd_index_does_not_lose_its_vectors() {
        for index in [json!("0"), json!(0.0), json!(-1), Value::Null] {
            let mut answer = raw(json!({"data": [{"index": index, "embedding": [1.0, 2.0]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}));
            answer.encode_base64();
            let json = body(answer);
            assert_eq!((json["data"][0]["index"].clone(), json["data"][0]["embedding"].clone()), (json!(0), json!(base64_of_f32s(&[1.0, 2.0]))), "{index}");
            assert_eq!(json["usage"]["prompt_tokens"], 3);
        }
        // One the rewrite could not read is not taken at all (the next deployment serves).
        assert!(crate::providers::openai::embeddings_answer("openai", br#"{"data":[{"index":0,"index":1,"embedding":[1.0]}]}"#.to_vec()).is_err());
    }

    #[test]
    fn the_largest_request_stays_far_below_a_workers_memory() {
        // 2,048 vectors of 3,072 numbers as 21 Gemini batches, asked as base64: the vectors take
        // 25 MB as f32s and the answer 33 MB (a JSON tree took about 320 MB in wasm).
        let batches: Vec<EmbeddingsAnswer> = (0..21).map(|b| {
            let n = if b < 20 { 100 } else { 48 };
            EmbeddingsAnswer::vectors("g", (0..n).map(|i| vec![i as f32 / 100.0; 3072]).collect(), None)
        }).collect();
        let mut merged = EmbeddingsAnswer::merged(batches);
        assert_eq!(merged.vector_count(), 2048);
        merged.encode_base64();
        let bytes = merged.into_bytes();
        assert!(bytes.len() < 2048 * (3072 * 4 * 4 / 3 + 64) + 200, "{}", bytes.len());
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["data"][2047]["index"], 2047);
        assert_eq!(json["data"][101]["embedding"], base64_of_f32s(&[0.01; 3072]));
    }
}
