//! The JS side of the edge shell (`crossings.js`): runtime work that takes many calls from wasm
//! through workers-rs, done in one. Rust builds the inputs; JS only carries them out.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(module = "/src/edge/crossings.js")]
extern "C" {
    #[wasm_bindgen(js_name = headersFromLines)]
    fn headers_from_lines(lines: &str) -> web_sys::Headers;

    #[wasm_bindgen(js_name = headerValues)]
    fn header_values(headers: &web_sys::Headers, names: &str) -> String;

    #[wasm_bindgen(js_name = rateLimitAllows)]
    fn rate_limit_allows(limiter: &wasm_bindgen::JsValue, key: &str) -> js_sys::Promise;

    #[wasm_bindgen(catch, js_name = writeDataPoint)]
    fn write_data_point_raw(env: &wasm_bindgen::JsValue, binding: &str, point: &str) -> Result<bool, wasm_bindgen::JsValue>;

    #[wasm_bindgen(js_name = durableObjectStub)]
    fn durable_object_stub(env: &wasm_bindgen::JsValue, binding: &str, name: &str) -> wasm_bindgen::JsValue;

    #[wasm_bindgen(js_name = durableObjectCall)]
    fn durable_object_call(stub: &wasm_bindgen::JsValue, url: &str, body: Option<&[u8]>) -> js_sys::Promise;

    /// See `inTransaction` in `crossings.js`; `state` is a Durable Object's state.
    #[wasm_bindgen(catch, js_name = inTransaction)]
    pub fn in_transaction(state: &wasm_bindgen::JsValue, work: &mut dyn FnMut() -> bool) -> Result<(), wasm_bindgen::JsValue>;

    #[wasm_bindgen(catch, js_name = kvPut)]
    fn kv_put_raw(state: &wasm_bindgen::JsValue, key: &str, value: &wasm_bindgen::JsValue) -> Result<(), wasm_bindgen::JsValue>;

    #[wasm_bindgen(js_name = streamReader)]
    pub fn stream_reader(stream: &web_sys::ReadableStream) -> wasm_bindgen::JsValue;

    #[wasm_bindgen(js_name = readChunk)]
    pub fn read_chunk(reader: &wasm_bindgen::JsValue) -> js_sys::Promise;

    #[wasm_bindgen(js_name = cancelReader)]
    pub fn cancel_reader(reader: &wasm_bindgen::JsValue);

    #[wasm_bindgen(js_name = cachedText)]
    fn cached_text_promise(url: &str) -> js_sys::Promise;

    /// See `upstreamFetch` in `crossings.js` for what the promise resolves to.
    #[wasm_bindgen(js_name = upstreamFetch)]
    pub fn upstream_fetch(url: &str, header_lines: &str, body: &[u8], timeout_ms: f64, want_stream: bool, client_signal: &web_sys::AbortSignal, abandon_after_ms: f64) -> js_sys::Promise;
}

/// Writes the Analytics Engine data point whose JSON is `point` to the dataset bound as `binding`:
/// `Ok(false)` when there is none, `Err` with the dataset's refusal.
pub fn write_data_point(env: &worker::Env, binding: &str, point: &str) -> Result<bool, String> {
    write_data_point_raw(env, binding, point).map_err(|e| error_message(&e, "the dataset refused the data point"))
}

/// Name/value pairs as the `name\nvalue\n...` text `crossings.js` reads. Callers make sure no
/// name or value holds a newline (header values pass through `receipt::header_safe`).
pub fn header_lines<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut lines = String::new();
    for (k, v) in pairs {
        if !lines.is_empty() {
            lines.push('\n');
        }
        lines.push_str(k);
        lines.push('\n');
        lines.push_str(v);
    }
    lines
}

/// A `Headers` object holding the pairs, built in one call (a response carries a dozen headers,
/// and each `Headers::set` from wasm is its own call). Values are made header-safe here, and a
/// pair whose name holds a line break (never one the router writes) is left out.
pub fn headers<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> worker::Headers {
    let safe: Vec<(&str, String)> = pairs.into_iter().filter(|(k, _)| !k.contains(['\n', '\r'])).map(|(k, v)| (k, crate::receipt::header_safe(v))).collect();
    worker::Headers(headers_from_lines(&header_lines(safe.iter().map(|(k, v)| (*k, v.as_str())))))
}

/// The values of `names` in `headers`, read in one call; `None` for a header that is absent.
pub fn header_values_of(headers: &web_sys::Headers, names: &[&str]) -> Vec<Option<String>> {
    let answer = header_values(headers, &names.join("\n"));
    let values: Vec<Option<String>> = answer.split('\n').map(|v| v.strip_prefix('=').map(str::to_string)).collect();
    // One line per name by construction; anything else would mean a runtime that let a line break
    // into a header value, and then every name is read again on its own.
    if values.len() == names.len() {
        values
    } else {
        names.iter().map(|n| headers.get(n).ok().flatten()).collect()
    }
}

/// Whether the Workers rate-limiting binding `binding` admits one more call under `key`. `None`
/// when the binding is not configured; a limiter that fails to answer admits the call (and is
/// logged): it slows guessing down, it is not what keeps a secret secret.
pub async fn rate_limit(env: &worker::Env, binding: &str, key: &str) -> Option<bool> {
    let limiter = js_sys::Reflect::get(env, &binding.into()).ok().filter(|l| !l.is_undefined() && !l.is_null())?;
    match wasm_bindgen_futures::JsFuture::from(rate_limit_allows(&limiter, key)).await {
        Ok(allowed) => Some(allowed.as_bool() == Some(true)),
        Err(_) => {
            worker::console_error!("the {binding} rate limiter did not answer; the call is let through");
            Some(true)
        }
    }
}

/// A Durable Object's stub: the tenant's ledger or semantic-cache index. Called through
/// [`ObjectStub::call`], not workers-rs' `Stub` (see `durableObjectCall` in `crossings.js`).
pub struct ObjectStub(wasm_bindgen::JsValue);

impl ObjectStub {
    /// The object named `name` in the namespace bound as `binding`; `None` without that binding.
    pub fn named(env: &worker::Env, binding: &str, name: &str) -> Option<ObjectStub> {
        let stub = durable_object_stub(env, binding, name);
        (!stub.is_null() && !stub.is_undefined()).then_some(ObjectStub(stub))
    }

    /// One request to the object: a POST of `body`, or a GET without one. The answer's status and
    /// text; `Err` with the runtime's message when the object could not be reached.
    pub async fn call(&self, url: &str, body: Option<&[u8]>) -> Result<(u16, String), String> {
        let answered = wasm_bindgen_futures::JsFuture::from(durable_object_call(&self.0, url, body)).await.map_err(|e| error_message(&e, "fetch failed"))?;
        let parts: js_sys::Array = wasm_bindgen::JsCast::unchecked_into(answered);
        Ok((parts.get(0).as_f64().unwrap_or(0.0) as u16, parts.get(1).as_string().unwrap_or_default()))
    }
}

/// The text of this location's cached response for `url` (the Cache API); `None` when nothing is
/// stored or the cache could not be read.
pub async fn cached_text(url: &str) -> Option<String> {
    wasm_bindgen_futures::JsFuture::from(cached_text_promise(url)).await.ok()?.as_string()
}

/// A synchronous key-value write to a Durable Object's storage (see `kvPut` in `crossings.js`).
pub fn kv_put(state: &wasm_bindgen::JsValue, key: &str, value: &wasm_bindgen::JsValue) -> worker::Result<()> {
    kv_put_raw(state, key, value).map_err(worker::Error::from)
}

/// A JS error's message (or the thrown value itself, if a string), else `fallback`.
pub fn error_message(e: &wasm_bindgen::JsValue, fallback: &str) -> String {
    js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).or_else(|| e.as_string()).unwrap_or_else(|| fallback.to_string())
}
