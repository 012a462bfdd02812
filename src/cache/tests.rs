use serde_json::json;

use super::*;

fn req(v: serde_json::Value) -> ChatRequest {
    ChatRequest::parse(v.to_string().as_bytes()).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
}

#[test]
fn keys_ignore_delivery_and_bookkeeping_but_nothing_else() {
    let base = json!({"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]});
    let k = exact_key("acme", "gpt-4o-mini", &base);
    let mut same = base.clone();
    same["stream"] = json!(true);
    same["stream_options"] = json!({"include_usage": true});
    same["user"] = json!("u-1");
    same["safety_identifier"] = json!("u-1");
    same["prompt_cache_key"] = json!("support-bot");
    same["metadata"] = json!({"feature": "x"});
    assert_eq!(exact_key("acme", "gpt-4o-mini", &same), k, "delivery and bookkeeping do not change the answer");
    let reordered: serde_json::Value = serde_json::from_str(r#"{"messages":[{"content":"hi","role":"user"}],"temperature":0,"model":"gpt-4o-mini"}"#).unwrap();
    assert_eq!(exact_key("acme", "gpt-4o-mini", &reordered), k, "key order does not matter");
    // ...but a schema's property order does: the answer is written in it.
    let schema = |props: &str| serde_json::from_str::<serde_json::Value>(&format!(r#"{{"model":"m","messages":[],"response_format":{{"type":"json_schema","json_schema":{{"name":"a","schema":{{"type":"object","properties":{props}}}}}}}}}"#)).unwrap();
    let reasoning_first = schema(r#"{"reasoning":{"type":"string"},"answer":{"type":"string"}}"#);
    let answer_first = schema(r#"{"answer":{"type":"string"},"reasoning":{"type":"string"}}"#);
    assert_ne!(exact_key("acme", "m", &reasoning_first), exact_key("acme", "m", &answer_first));
    let reasoning_first_reordered = serde_json::from_str::<serde_json::Value>(r#"{"messages":[],"model":"m","response_format":{"json_schema":{"schema":{"properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}},"type":"object"},"name":"a"},"type":"json_schema"}}"#).unwrap();
    assert_eq!(exact_key("acme", "m", &reasoning_first), exact_key("acme", "m", &reasoning_first_reordered), "other keys' order still does not matter");

    assert_ne!(exact_key("globex", "gpt-4o-mini", &base), k, "another tenant never shares a key");
    assert_ne!(exact_key("acme", "fast", &base), k, "another model or alias");
    for (field, value) in [
        ("seed", json!(1)),
        ("max_tokens", json!(10)),
        ("stop", json!(["\n"])),
        ("tools", json!([{"type": "function", "function": {"name": "f"}}])),
        ("response_format", json!({"type": "json_object"})),
        ("logit_bias", json!({"50256": -100})),
        ("some_future_parameter", json!(true)),
    ] {
        let mut other = base.clone();
        other[field] = value;
        assert_ne!(exact_key("acme", "gpt-4o-mini", &other), k, "{field} changes the key");
    }
    let mut earlier = base.clone();
    earlier["messages"] = json!([{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hey"}, {"role": "user", "content": "hi"}]);
    assert_ne!(exact_key("acme", "gpt-4o-mini", &earlier), k, "a different earlier turn is a different request");
}

#[test]
fn plans_follow_policy_headers_and_sampling() {
    let on = CacheSettings { enabled: true, ..CacheSettings::default() };
    let greedy = req(json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "x"}]}));
    let sampled = req(json!({"model": "m", "temperature": 0.7, "messages": [{"role": "user", "content": "x"}]}));
    let default_temperature = req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
    let none = ClientControls::default();
    assert!(matches!(plan(&CacheSettings::default(), &none, &greedy, false, &[]), CachePlan::Bypass(_)), "off unless the policy enables it");
    assert_eq!(plan(&on, &none, &greedy, false, &[]), CachePlan::Use { read: true, ttl_secs: 3600 });
    assert!(matches!(plan(&on, &none, &sampled, false, &[]), CachePlan::Bypass(_)));
    assert!(matches!(plan(&on, &none, &default_temperature, false, &[]), CachePlan::Bypass(_)), "OpenAI's default temperature is 1");
    assert!(matches!(plan(&on, &none, &greedy, true, &[]), CachePlan::Bypass(_)), "routed to a model that samples whatever the temperature");
    let allow = ClientControls::from_headers(headers(&[("x-costrouter-cache-sampled", "allow")])).unwrap();
    assert!(matches!(plan(&on, &allow, &sampled, false, &[]), CachePlan::Use { .. }));
    assert!(matches!(plan(&CacheSettings { sampled: true, ..on.clone() }, &none, &sampled, false, &[]), CachePlan::Use { .. }));

    let no_cache = ClientControls::from_headers(headers(&[("cache-control", "max-age=0, No-Cache")])).unwrap();
    assert_eq!(plan(&on, &no_cache, &greedy, false, &[]), CachePlan::Use { read: false, ttl_secs: 3600 });
    let fresh_only = ClientControls::from_headers(headers(&[("cache-control", "max-age=600")])).unwrap();
    assert_eq!(plan(&on, &fresh_only, &greedy, false, &[]), CachePlan::Use { read: true, ttl_secs: 3600 });
    assert!(fresh_only.accepts_age(600) && !fresh_only.accepts_age(601), "no stored answer older than max-age");
    assert!(ClientControls::default().accepts_age(i64::MAX));
    let zero_age = ClientControls::from_headers(headers(&[("cache-control", "max-age=0")])).unwrap();
    assert_eq!(plan(&on, &zero_age, &greedy, false, &[]), CachePlan::Use { read: false, ttl_secs: 3600 }, "max-age=0 is no-cache");
    assert_eq!(ClientControls::from_headers(headers(&[("cache-control", "max-age=soon")])).unwrap().max_age_secs, None, "ignored, as HTTP caches do");
    let pragma = ClientControls::from_headers(headers(&[("pragma", "no-cache")])).unwrap();
    assert_eq!(plan(&on, &pragma, &greedy, false, &[]), CachePlan::Use { read: false, ttl_secs: 3600 }, "HTTP/1.0's no-cache");
    let no_store = ClientControls::from_headers(headers(&[("cache-control", "no-store")])).unwrap();
    assert!(matches!(plan(&on, &no_store, &greedy, false, &[]), CachePlan::Bypass(_)));
    let ttl = ClientControls::from_headers(headers(&[("x-costrouter-cache-ttl", "120")])).unwrap();
    assert_eq!(plan(&on, &ttl, &greedy, false, &[]), CachePlan::Use { read: true, ttl_secs: 120 });
    let longer = ClientControls::from_headers(headers(&[("x-costrouter-cache-ttl", "86400")])).unwrap();
    assert_eq!(plan(&on, &longer, &greedy, false, &[]), CachePlan::Use { read: true, ttl_secs: 3600 }, "a client cannot outlast the policy's TTL");
    let zero = ClientControls::from_headers(headers(&[("x-costrouter-cache-ttl", "0")])).unwrap();
    assert_eq!(plan(&on, &zero, &greedy, false, &[]), CachePlan::Use { read: true, ttl_secs: 0 });
    let neither = ClientControls::from_headers(headers(&[("cache-control", "no-cache"), ("x-costrouter-cache-ttl", "0")])).unwrap();
    assert!(matches!(plan(&on, &neither, &greedy, false, &[]), CachePlan::Bypass(_)), "no lookup and no store: nothing to embed for");
    for bad in [("x-costrouter-cache-ttl", "soon"), ("x-costrouter-cache-ttl", "-5"), ("x-costrouter-cache-ttl", ""), ("x-costrouter-cache-sampled", "yes")] {
        assert!(ClientControls::from_headers(headers(&[bad])).is_err(), "{bad:?}");
    }
    // Outside what an entry may live: brought within it, not refused.
    for (asked, kept) in [("5", MIN_TTL_SECS), ("2592000", MAX_TTL_SECS), ("99999999999999999999999", MAX_TTL_SECS)] {
        assert_eq!(ClientControls::from_headers(headers(&[("x-costrouter-cache-ttl", asked)])).unwrap().ttl_secs, Some(kept), "{asked}");
    }
    assert!(CacheSettings { ttl_secs: 10, ..on.clone() }.validate().is_err());
}

#[test]
fn a_route_held_to_regions_is_not_cached_whatever_the_request_asks() {
    let on = CacheSettings { enabled: true, sampled: true, semantic: true, ..CacheSettings::default() };
    let greedy = req(json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "x"}]}));
    let eu = ["eu".to_string()];
    assert_eq!(plan(&on, &ClientControls::default(), &greedy, false, &eu), CachePlan::Bypass(RESIDENCY_BYPASS));
    let asks_for_it = ClientControls::from_headers(headers(&[("x-costrouter-cache-ttl", "600"), ("x-costrouter-cache-sampled", "allow")])).unwrap();
    assert_eq!(plan(&on, &asks_for_it, &greedy, false, &eu), CachePlan::Bypass(RESIDENCY_BYPASS), "no header lifts it");
    assert_eq!(plan(&on, &ClientControls::default(), &greedy, false, &[]), CachePlan::Use { read: true, ttl_secs: 3600 }, "an unrestricted route is cached");
    assert_eq!(plan(&CacheSettings::default(), &ClientControls::default(), &greedy, false, &eu), CachePlan::Bypass("caching is off in this policy"), "off says off");
}

#[test]
fn only_complete_answers_are_stored() {
    let said = |finish: &str| json!({"finish_reason": finish, "message": {"role": "assistant", "content": "Paris."}});
    let called = json!({"finish_reason": "tool_calls", "message": {"content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}});
    assert!(storable(&json!({"choices": [said("stop"), called]})));
    assert!(!storable(&json!({"choices": [said("stop"), said("content_filter")]})));
    assert!(!storable(&json!({"choices": []})));
    // Stopped at the token limit: kept if it says something, not if it is empty (a reasoning
    // model that spent the limit thinking).
    assert!(storable(&json!({"choices": [{"finish_reason": "length", "message": {"content": "Once upon"}}]})));
    assert!(storable(&json!({"choices": [{"finish_reason": "length", "message": {"content": null, "tool_calls": [{"id": "c"}]}}]})));
    assert!(!storable(&json!({"choices": [{"finish_reason": "length", "message": {"content": ""}}]})));
    assert!(!storable(&json!({"choices": [{"finish_reason": "length", "message": {"content": null}}]})));
    assert!(!storable(&json!({"error": {}})));
    // A host's tool call that is not an object: nothing a replayed stream could carry.
    assert!(!storable(&json!({"choices": [{"finish_reason": "tool_calls", "message": {"content": null, "tool_calls": ["x"]}}]})));
}

#[test]
fn an_empty_answer_is_not_stored_whatever_its_finish_reason() {
    // Gemini's empty STOP arrives as a finished answer with nothing in it.
    for finish in ["stop", "tool_calls", "function_call", "length"] {
        for message in [json!({"role": "assistant", "content": ""}), json!({"role": "assistant", "content": null}), json!({"role": "assistant", "content": " \n"}), json!({"role": "assistant", "content": null, "tool_calls": []})] {
            assert!(!storable(&json!({"choices": [{"finish_reason": finish, "message": message}]})), "{finish}: {message}");
        }
        assert!(!storable(&json!({"choices": [{"finish_reason": finish}]})), "{finish} without a message");
    }
    // One empty choice of several is enough to keep the answer out.
    assert!(!storable(&json!({"choices": [{"finish_reason": "stop", "message": {"content": "Yes."}}, {"finish_reason": "stop", "message": {"content": ""}}]})));
    // What does show something, each alone.
    assert!(storable(&json!({"choices": [{"finish_reason": "stop", "message": {"content": null, "refusal": "I can't help with that."}}]})));
    assert!(storable(&json!({"choices": [{"finish_reason": "function_call", "message": {"content": null, "function_call": {"name": "f", "arguments": "{}"}}}]})));
    // Audio is an answer, but not one to replay: its id expires within hours.
    assert!(!storable(&json!({"choices": [{"finish_reason": "stop", "message": {"content": null, "audio": {"id": "a", "data": "UklG", "transcript": "Hi", "expires_at": 1}}}]})));
    assert!(!storable(&json!({"choices": [{"finish_reason": "stop", "message": {"content": "Hi", "audio": {"id": "a", "data": "UklG", "transcript": "Hi", "expires_at": 1}}}]})));
    assert!(storable(&json!({"choices": [{"finish_reason": "stop", "message": {"content": "Hi", "audio": null}}]})));
    // Content in parts (Mistral's reasoning models): kept when a part has text, not when none does.
    let parts = |text: &str| json!({"choices": [{"finish_reason": "stop", "message": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "..."}]}, {"type": "text", "text": text}]}}]});
    assert!(storable(&parts("Paris.")));
    assert!(!storable(&parts(" ")));
}

#[test]
fn a_streamed_answer_is_reassembled_whatever_the_splits() {
    let stream = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo ✓\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\":\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        ": costrouter {\"cost_usd\":\"0\"}\n\n",
        "data: [DONE]\n\n",
    )
    .as_bytes();
    let expected = json!({"id": "c1", "object": "chat.completion", "created": 7, "model": "gpt-4o-mini", "choices": [
        {"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Hello ✓",
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"a\":1}"}}]}}]});
    for split in [1, 2, 7, 64, stream.len()] {
        let mut a = CompletionAssembler::default();
        for piece in stream.chunks(split) {
            a.push(piece);
        }
        assert_eq!(a.finish(), Some(expected.clone()), "split {split}");
    }
    let mut cut = CompletionAssembler::default();
    cut.push(&stream[..stream.len() / 2]);
    assert_eq!(cut.finish(), None, "a stream without its finish_reason is not an answer");
    let mut errored = CompletionAssembler::default();
    errored.push(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"error\":{\"message\":\"cut\"}}\n\n");
    assert_eq!(errored.finish(), None);
}

#[test]
fn a_stream_with_parts_the_rebuild_would_drop_is_not_cached() {
    let chunk = |delta: &str| format!("data: {{\"id\":\"c1\",\"created\":7,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":\"stop\"}}]}}\n\n");
    let rebuilt = |delta: &str| {
        let mut a = CompletionAssembler::default();
        a.push(chunk(delta).as_bytes());
        a.finish()
    };
    assert!(rebuilt(r#"{"content":"hi","reasoning_content":null,"annotations":[]}"#).is_some(), "empty extras are nothing");
    assert!(rebuilt(r#"{"content":"hi","token_id":9906}"#).is_some(), "Together's per-token id is metadata, not a part");
    // Azure's first chunk carries the prompt filter results, with an empty id and model.
    let mut azure = CompletionAssembler::default();
    azure.push(b"data: {\"id\":\"\",\"created\":0,\"model\":\"\",\"choices\":[],\"prompt_filter_results\":[]}\n\n");
    azure.push(chunk(r#"{"content":"hi"}"#).as_bytes());
    assert_eq!(azure.finish().unwrap()["model"], "m", "the head is the first chunk that names the completion");
    // A Gemini call's thought signature is kept with its call, for a replay to hand back.
    let signed = rebuilt(r#"{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"get","arguments":"{}"},"extra_content":{"google":{"thought_signature":"sig"}}}]}"#).unwrap();
    assert_eq!(signed["choices"][0]["message"]["tool_calls"][0]["extra_content"], json!({"google": {"thought_signature": "sig"}}));
    for dropped in [
        r#"{"function_call":{"name":"get","arguments":"{}"}}"#,
        r#"{"content":"hi","reasoning_content":"because"}"#,
        r#"{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]}]}"#,
        r#"{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"get","arguments":"{}","thought":"kept apart"}}]}"#,
        r#"{"tool_calls":[{"id":"c","type":"function","function":{"name":"get","arguments":"{}"}}]}"#,
    ] {
        assert_eq!(rebuilt(dropped), None, "{dropped}");
    }
    // Ollama sends each of several calls at index 0: joined, they would replay as one call.
    let mut ollama = CompletionAssembler::default();
    ollama.push(chunk(r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read","arguments":"{}"}}]}"#).replace("\"stop\"", "null").as_bytes());
    ollama.push(chunk(r#"{"tool_calls":[{"index":0,"id":"call_b","type":"function","function":{"name":"write","arguments":"{}"}}]}"#).replace("\"stop\"", "\"tool_calls\"").as_bytes());
    assert_eq!(ollama.finish(), None);
}

/// A deployment of `model` on `provider`, calling `upstream`.
fn on(model: &str, provider: &str, upstream: &str) -> crate::routing::Candidate {
    crate::routing::Candidate { provider: provider.into(), upstream_model: upstream.into(), model: model.into(), price_key: model.into() }
}

#[test]
fn the_answer_scope_is_the_model_asked_for_and_the_set_of_deployments_routed_to() {
    let (mini, big) = (on("gpt-4o-mini", "openai", "gpt-4o-mini"), on("gpt-4o", "openai", "gpt-4o"));
    let scope = answer_scope("gpt-4o", &[mini.clone(), big.clone()], None);
    assert_eq!(scope, answer_scope("gpt-4o", &[big.clone(), mini.clone()], None), "the order a strategy tries them in does not matter");
    assert_ne!(scope, answer_scope("gpt-4o", std::slice::from_ref(&mini), None), "a caller routed elsewhere (another feature, region) gets its own entries");
    assert_ne!(scope, answer_scope("fast", &[mini.clone(), big.clone()], None), "another model or alias asked for");
    let arm_a = answer_scope("gpt-4o", &[mini.clone(), big.clone()], Some("arm gpt-4o-mini"));
    assert_ne!(arm_a, answer_scope("gpt-4o", &[big.clone(), mini.clone()], Some("arm gpt-4o")), "the arms of a split share no answers");
    assert_ne!(arm_a, scope);
    assert_ne!(answer_scope("gpt-4o", &[mini.clone(), big.clone()], Some("cascade")), scope, "a cascade's judged answers are its own");
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    assert_ne!(exact_key("acme", &scope, &body), exact_key("acme", &answer_scope("gpt-4o", &[on("mistral-large", "mistral", "mistral-large-latest")], None), &body));
    // A catalog that points the model at another release starts afresh.
    assert_ne!(scope, answer_scope("gpt-4o", &[mini.clone(), on("gpt-4o", "openai", "gpt-4o-2024-11-20")], None));
}

#[test]
fn routes_over_one_set_in_another_fixed_order_share_no_answers() {
    let (mini, big) = (on("gpt-4o-mini", "openai", "gpt-4o-mini"), on("gpt-4o", "openai", "gpt-4o"));
    let azure_mini = on("gpt-4o-mini", "azure", "mini");
    let decision = |route: &str, candidates: &[&crate::routing::Candidate]| crate::routing::RouteDecision {
        requested: "gpt-4o".into(),
        baseline_price_key: None,
        candidates: candidates.iter().map(|c| (*c).clone()).collect(),
        route: route.into(),
        rule: String::new(),
        reason: String::new(),
        cascade: None,
        regions: vec![],
    };
    let scope = |d: &crate::routing::RouteDecision| answer_scope(&d.requested, &d.candidates, route_variant(d).as_deref());
    // One rule's `[mini, big]` and another's `[big, mini]`: mini answers the first, big the second.
    for route in ["fallback", "cheapest"] {
        assert_ne!(scope(&decision(route, &[&mini, &big])), scope(&decision(route, &[&big, &mini])), "{route}");
        assert_eq!(route_variant(&decision(route, &[&mini, &big])).as_deref(), Some("first gpt-4o-mini"));
    }
    // Deployments of one model in another order (a fallback between hosts) answer alike.
    assert_eq!(route_variant(&decision("fallback", &[&mini, &azure_mini])), None);
    assert_eq!(scope(&decision("fallback", &[&mini, &azure_mini])), scope(&decision("requested", &[&azure_mini, &mini])));
    // `fastest` moves with latencies: a set.
    assert_eq!(scope(&decision("fastest", &[&mini, &big])), scope(&decision("fastest", &[&big, &mini])));
    // A split's arm and a cascade's order, as before.
    assert_eq!(route_variant(&decision("split", &[&big, &mini])).as_deref(), Some("arm gpt-4o"));
    let mut cascade = decision("cascade", &[&mini, &big]);
    cascade.cascade = Some(crate::routing::CascadeSettings { min_logprob: Some(-0.5), buffer_streams: false });
    assert_eq!(route_variant(&cascade).as_deref(), Some("cascade gpt-4o-mini > gpt-4o min_logprob -0.5"));
}

#[test]
fn two_providers_of_one_upstream_model_share_no_answers() {
    // One model deployed on two hosts under the same upstream name (Together's and Groq's Llama:
    // other quantisations, other serving stacks), and rules that send one caller to one host and
    // another caller to the other, or to both: those callers never share answers.
    let llama = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    let (together, groq) = (on("llama-3.3-70b", "together", llama), on("llama-3.3-70b", "groq", llama));
    let on_together = answer_scope("llama-3.3-70b", std::slice::from_ref(&together), None);
    let on_groq = answer_scope("llama-3.3-70b", std::slice::from_ref(&groq), None);
    let on_both = answer_scope("llama-3.3-70b", &[together.clone(), groq.clone()], None);
    assert_ne!(on_together, on_groq);
    assert_ne!(on_together, on_both);
    assert_ne!(on_groq, on_both);
    // Names are kept apart whatever characters they hold.
    assert_ne!(answer_scope("m", &[on("a", "b", "c=d")], None), answer_scope("m", &[on("a", "b=c", "d")], None));
}

#[test]
fn a_streamed_answer_keeps_its_log_probabilities() {
    // Asked for with `logprobs: true`, they arrive a slice per chunk; the cached completion must
    // hold them all, or a later non-streaming request with the same body gets `logprobs: null`.
    let token = |t: &str, p: f64| json!({"token": t, "logprob": p, "bytes": t.as_bytes(), "top_logprobs": []});
    let chunk = |delta: Value, logprobs: Value, finish: Value| {
        format!("data: {}\n\n", json!({"id": "c2", "object": "chat.completion.chunk", "created": 7, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}))
    };
    let stream = [
        chunk(json!({"role": "assistant", "content": ""}), json!({"content": [], "refusal": null}), Value::Null),
        chunk(json!({"content": "Hi"}), json!({"content": [token("Hi", -0.1)], "refusal": null}), Value::Null),
        chunk(json!({"content": " there"}), json!({"content": [token(" there", -0.2)], "refusal": null}), Value::Null),
        chunk(json!({}), Value::Null, json!("stop")),
    ]
    .concat();
    let mut a = CompletionAssembler::default();
    for piece in stream.as_bytes().chunks(5) {
        a.push(piece);
    }
    let completion = a.finish().unwrap();
    assert_eq!(completion["choices"][0]["message"]["content"], "Hi there");
    assert_eq!(completion["choices"][0]["logprobs"], json!({"content": [token("Hi", -0.1), token(" there", -0.2)], "refusal": null}));
}

#[test]
fn client_controls_headers_are_every_header_from_headers_reads() {
    // The edge fetches these in one call up front; a header read but not listed would cost a call of its own.
    let asked = std::cell::RefCell::new(Vec::new());
    ClientControls::from_headers(|name| {
        asked.borrow_mut().push(name.to_string());
        None
    })
    .unwrap();
    assert_eq!(*asked.borrow(), ClientControls::HEADERS);
}

#[test]
fn an_entry_answers_only_within_its_lifetime() {
    let stored = CachedAnswer { completion: json!({}), provider: "openai".into(), model: "m".into(), cost: Default::default(), baseline: Default::default(), stored_at: 1_000, expires_at: Some(1_060), demo: false };
    assert!(stored.is_fresh(1_059));
    assert!(!stored.is_fresh(1_060), "a KV hit at 59 s must not live on past the 60 s asked for");
    assert_eq!(stored.remaining_secs(1_059), Some(1), "a warmed copy gets what is left, not a lifetime of its own");
    let older = CachedAnswer { expires_at: None, ..stored.clone() };
    assert!(older.is_fresh(i64::MAX) && older.remaining_secs(5).is_none(), "entries stored before expiries were kept keep their storage expiry");
    let text = serde_json::to_string(&older).unwrap();
    assert!(!text.contains("expires_at"));
    assert_eq!(serde_json::from_str::<CachedAnswer>(&text).unwrap(), older);
}

#[test]
fn the_canonical_form_is_the_same_json_with_sorted_keys() {
    // Read back, it is the value it was made from: distinct requests never share a form ([1,2]
    // and [12] would, written without their commas).
    for value in [
        json!([1, 2]),
        json!([12]),
        json!({"b": [1, {"z": 1, "a": [true, null]}], "a": "x,y", "properties": {"z": 1, "a": 2}}),
        json!({}),
        json!([]),
    ] {
        let canonical = super::key::canonical_json(&value);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&canonical).unwrap(), value, "{canonical}");
    }
    assert_eq!(super::key::canonical_json(&json!({"b": 1, "a": 2})), r#"{"a":2,"b":1}"#);
    // A schema's properties keep the client's order.
    assert_eq!(super::key::canonical_json(&json!({"properties": {"z": 1, "a": 2}})), r#"{"properties":{"z":1,"a":2}}"#);
}
