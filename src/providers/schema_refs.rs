//! Local `$ref`s between a JSON Schema's definitions (`#/$defs/name`, `#/definitions/name`), as
//! both schema translators need them: whether they form a cycle, which neither Anthropic's
//! structured outputs nor Gemini's `Schema` (which has no references) can hold.

use serde_json::{Map, Value};

/// Whether some definition refers, directly or through others, to itself: one depth-first walk
/// over the definitions, each one's references collected once (a check per definition walked
/// the references again for each, which 400 definitions that each name all later ones made
/// seconds of CPU).
pub fn has_cycle(defs: &Map<String, Value>) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    let index: std::collections::HashMap<&str, usize> = defs.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let edges: Vec<Vec<usize>> = defs
        .values()
        .map(|def| {
            let mut refs = Vec::new();
            collect_refs(def, &mut refs);
            let mut to: Vec<usize> = refs.iter().filter_map(|r| index.get(r.as_str()).copied()).collect();
            to.sort_unstable();
            to.dedup();
            to
        })
        .collect();
    let mut mark = vec![Mark::Unvisited; edges.len()];
    for start in 0..edges.len() {
        if mark[start] != Mark::Unvisited {
            continue;
        }
        // (definition, next edge to follow): an explicit stack, so a long chain cannot overflow it.
        let mut stack = vec![(start, 0usize)];
        mark[start] = Mark::OnPath;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            match edges[node].get(*next) {
                Some(&to) => {
                    *next += 1;
                    match mark[to] {
                        Mark::OnPath => return true,
                        Mark::Unvisited => {
                            mark[to] = Mark::OnPath;
                            stack.push((to, 0));
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    mark[node] = Mark::Done;
                    stack.pop();
                }
            }
        }
    }
    false
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(obj) => {
            if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
                out.push(r.to_string());
            }
            obj.iter().filter(|(k, _)| k.as_str() != "enum" && k.as_str() != "const" && k.as_str() != "default").for_each(|(_, v)| collect_refs(v, out));
        }
        Value::Array(list) => list.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
