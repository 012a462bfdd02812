//! Evaluates `routing::classify` on labelled chat requests (JSONL from bench/classifier/convert.py):
//! task-class accuracy with a confusion matrix, how well difficulty separates sets labelled easy
//! and hard (ROC AUC), the non-English flag against labelled languages, and native timings.
//!
//!   cargo run --release --example classifier_eval -- --data bench/.data/classifier/labelled.jsonl \
//!       [--split heldout|tune|all] [--timing] [--misses FILE]
//!
//! Prints Markdown. Run it through `bench/classifier/run.sh`, which fetches and converts the data.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use costrouter::api::chat::ChatRequest;
use costrouter::routing::classify::{classify, RiskTier, TaskClass};
use serde_json::{json, Value};

struct Record {
    id: String,
    source: String,
    task: String,
    label: TaskClass,
    dpair: Option<String>,
    dlabel: Option<String>,
    lang: Option<String>,
    request: ChatRequest,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = arg(&args, "--data").unwrap_or_else(|| "bench/.data/classifier/labelled.jsonl".into());
    let split = arg(&args, "--split").unwrap_or_else(|| "heldout".into());
    let timing = args.iter().any(|a| a == "--timing");
    let misses_path = arg(&args, "--misses");

    let file = std::fs::File::open(&data).unwrap_or_else(|e| panic!("{data}: {e} (run bench/classifier/run.sh)"));
    let mut records = Vec::new();
    let mut rejected = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap();
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        if split != "all" && v["split"] != split.as_str() {
            continue;
        }
        let label = TaskClass::parse(v["label"].as_str().unwrap()).expect("known label");
        match ChatRequest::from_value(v["request"].clone()) {
            Ok(request) => records.push(Record {
                id: v["id"].as_str().unwrap().to_string(),
                source: v["source"].as_str().unwrap().to_string(),
                task: v["task"].as_str().unwrap().to_string(),
                label,
                dpair: v["dpair"].as_str().map(str::to_string),
                dlabel: v["dlabel"].as_str().map(str::to_string),
                lang: v["lang"].as_str().map(str::to_string),
                request,
            }),
            Err(_) => rejected += 1,
        }
    }

    println!("## Split `{split}`: {} requests ({rejected} rejected by the request parser)\n", records.len());
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *by_source.entry(r.source.as_str()).or_default() += 1;
    }
    println!(
        "Sources: {}\n",
        by_source.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    );

    let results: Vec<_> = records.iter().map(|r| classify(&r.request, None)).collect();

    // Task class: accuracy, per-class recall and precision, confusion matrix.
    let classes = TaskClass::ALL;
    let ci = |t: TaskClass| classes.iter().position(|&c| c == t).unwrap();
    let mut confusion = vec![vec![0usize; classes.len()]; classes.len()];
    for (r, c) in records.iter().zip(&results) {
        confusion[ci(r.label)][ci(c.task)] += 1;
    }
    let total = records.len();
    let correct: usize = (0..classes.len()).map(|i| confusion[i][i]).sum();
    let present: Vec<usize> = (0..classes.len()).filter(|&i| confusion[i].iter().sum::<usize>() > 0).collect();
    let recall = |i: usize| confusion[i][i] as f64 / confusion[i].iter().sum::<usize>().max(1) as f64;
    let precision = |i: usize| confusion[i][i] as f64 / (0..classes.len()).map(|r| confusion[r][i]).sum::<usize>().max(1) as f64;
    let macro_recall = present.iter().map(|&i| recall(i)).sum::<f64>() / present.len().max(1) as f64;
    println!("### Task class\n");
    println!(
        "Accuracy **{:.1}%** ({correct}/{total}); macro-averaged recall **{:.1}%** over {} classes.\n",
        pct(correct, total),
        100.0 * macro_recall,
        present.len()
    );
    let short = |t: TaskClass| match t {
        TaskClass::Classification => "clf",
        TaskClass::Extraction => "ext",
        TaskClass::Summarization => "sum",
        TaskClass::Rewrite => "rew",
        TaskClass::Translation => "tra",
        TaskClass::Code => "code",
        TaskClass::Math => "math",
        TaskClass::Reasoning => "rea",
        TaskClass::Creative => "cre",
        TaskClass::Chat => "chat",
        TaskClass::AgenticToolUse => "agent",
    };
    println!("Confusion matrix (rows: label, columns: predicted):\n");
    print!("| label \\ predicted |");
    for &c in &classes {
        print!(" {} |", short(c));
    }
    println!(" n | recall | precision |");
    println!("|---|{}---|---|---|", "---|".repeat(classes.len()));
    for &i in &present {
        print!("| {} |", classes[i].as_str());
        for (j, &n) in confusion[i].iter().enumerate() {
            if i == j {
                print!(" **{n}** |");
            } else if n == 0 {
                print!(" · |");
            } else {
                print!(" {n} |");
            }
        }
        println!(
            " {} | {:.0}% | {:.0}% |",
            confusion[i].iter().sum::<usize>(),
            100.0 * recall(i),
            100.0 * precision(i)
        );
    }
    println!();

    // Per-task accuracy, worst first, to show where the rules fail.
    // task -> (correct, total, label, misses by predicted class)
    type TaskTally<'a> = (usize, usize, TaskClass, BTreeMap<&'a str, usize>);
    let mut per_task: BTreeMap<&str, TaskTally> = BTreeMap::new();
    for (r, c) in records.iter().zip(&results) {
        let e = per_task.entry(r.task.as_str()).or_insert((0, 0, r.label, BTreeMap::new()));
        e.1 += 1;
        if c.task == r.label {
            e.0 += 1;
        } else {
            *e.3.entry(c.task.as_str()).or_default() += 1;
        }
    }
    let mut tasks: Vec<_> = per_task.iter().collect();
    tasks.sort_by(|a, b| (a.1 .0 as f64 / a.1 .1 as f64).total_cmp(&(b.1 .0 as f64 / b.1 .1 as f64)));
    println!("<details><summary>Per-task accuracy, worst first</summary>\n");
    println!("| task | label | correct | most common miss |\n|---|---|---|---|");
    for (task, (ok, n, label, misses)) in tasks {
        let miss = misses.iter().max_by_key(|(_, &v)| v).map(|(k, v)| format!("{k} ({v})")).unwrap_or_default();
        println!("| {task} | {} | {ok}/{n} | {miss} |", label.as_str());
    }
    println!("\n</details>\n");

    // Difficulty: AUC per easy/hard pair and pooled.
    println!("### Difficulty: easy vs hard sets\n");
    println!("ROC AUC = probability that a random hard prompt scores above a random easy one (0.5 = no separation; ties count half).\n");
    println!("| pair | easy n | hard n | mean easy | mean hard | AUC |\n|---|---|---|---|---|---|");
    let mut pairs: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (r, c) in records.iter().zip(&results) {
        if let (Some(p), Some(l)) = (&r.dpair, &r.dlabel) {
            let e = pairs.entry(p.as_str()).or_default();
            if l == "hard" {
                e.1.push(c.difficulty);
            } else {
                e.0.push(c.difficulty);
            }
        }
    }
    let (mut all_easy, mut all_hard) = (Vec::new(), Vec::new());
    for (p, (easy, hard)) in &pairs {
        println!(
            "| {p} | {} | {} | {:.2} | {:.2} | **{:.3}** |",
            easy.len(),
            hard.len(),
            mean(easy),
            mean(hard),
            auc(easy, hard)
        );
        all_easy.extend(easy);
        all_hard.extend(hard);
    }
    println!(
        "| pooled | {} | {} | {:.2} | {:.2} | **{:.3}** |\n",
        all_easy.len(),
        all_hard.len(),
        mean(&all_easy),
        mean(&all_hard),
        auc(&all_easy, &all_hard)
    );

    // Mean difficulty per class label, as a sanity check of the scale.
    println!(
        "Mean difficulty by labelled class: {}\n",
        present
            .iter()
            .map(|&i| {
                let v: Vec<f64> = records
                    .iter()
                    .zip(&results)
                    .filter(|(r, _)| ci(r.label) == i)
                    .map(|(_, c)| c.difficulty)
                    .collect();
                format!("{} {:.2}", classes[i].as_str(), mean(&v))
            })
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Language flag.
    let (mut lang_ok, mut lang_n) = (0, 0);
    let mut lang_conf: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for (r, c) in records.iter().zip(&results) {
        if let Some(l) = &r.lang {
            lang_n += 1;
            let want = l != "en";
            if c.features.non_english == want {
                lang_ok += 1;
            }
            *lang_conf.entry((l.clone(), c.features.non_english)).or_default() += 1;
        }
    }
    if lang_n > 0 {
        println!("### Language (non-English flag)\n");
        println!("Agreement **{:.1}%** ({lang_ok}/{lang_n}) with labels from the data (multiemo language subsets: English instruction + sentence in the named language; WritingBench: Chinese vs English prompts).\n", pct(lang_ok, lang_n));
        println!("| label | flagged non-English | flagged English |\n|---|---|---|");
        for l in ["en", "non-en"] {
            println!(
                "| {l} | {} | {} |",
                lang_conf.get(&(l.to_string(), true)).unwrap_or(&0),
                lang_conf.get(&(l.to_string(), false)).unwrap_or(&0)
            );
        }
        println!();
    }

    // Risk tiers (no labels in the data; shown for inspection).
    println!("### Risk tiers assigned (unlabelled; for inspection)\n");
    println!("| source | low | medium | high | irreversible |\n|---|---|---|---|---|");
    let mut risk: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for (r, c) in records.iter().zip(&results) {
        let idx = match c.risk {
            RiskTier::Low => 0,
            RiskTier::Medium => 1,
            RiskTier::High => 2,
            RiskTier::Irreversible => 3,
        };
        risk.entry(r.source.as_str()).or_default()[idx] += 1;
    }
    for (s, n) in &risk {
        println!("| {s} | {} | {} | {} | {} |", n[0], n[1], n[2], n[3]);
    }
    println!();

    if let Some(path) = misses_path {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for (r, c) in records.iter().zip(&results) {
            if c.task != r.label {
                let text = r.request.messages.last().and_then(|m| m.content.as_ref()).map(|c| c.text()).unwrap_or_default();
                let text: String = text.chars().take(300).collect::<String>().replace('\n', "⏎");
                writeln!(
                    out,
                    "{} | label {} | got {} | {}\n    {}",
                    r.id,
                    r.label.as_str(),
                    c.task.as_str(),
                    c.task_reason,
                    text
                )
                .unwrap();
            }
        }
    }

    if timing {
        print_timings(&records);
    }
}

fn print_timings(records: &[Record]) {
    println!("### Timing (native, this machine, release build; one `classify` call, parsing excluded)\n");
    // Per-request cost over the data set itself.
    let mut per: Vec<f64> = Vec::with_capacity(records.len());
    for _ in 0..3 {
        per.clear();
        for r in records {
            let t = Instant::now();
            std::hint::black_box(classify(std::hint::black_box(&r.request), None));
            per.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    per.sort_by(f64::total_cmp);
    println!(
        "Over the {} requests of this split: median {:.1} µs, p99 {:.1} µs, max {:.1} µs.\n",
        per.len(),
        q(&per, 0.5),
        q(&per, 0.99),
        per[per.len() - 1]
    );

    // Synthetic prompts of a given size, built from the data's own text (prose, code, math mixed),
    // with a short instruction at the end; tokens estimated at 4 characters each.
    let mut corpus = String::new();
    for r in records.iter().step_by(7) {
        for m in &r.request.messages {
            if let Some(c) = &m.content {
                corpus.push_str(&c.text());
                corpus.push('\n');
            }
        }
        if corpus.len() > 200_000 {
            break;
        }
    }
    println!("| prompt size | chars | bytes scanned | median | p99 | calls |\n|---|---|---|---|---|---|");
    for (tokens, iters) in [(100usize, 20_000usize), (4_000, 3_000), (32_000, 1_000)] {
        let chars = tokens * 4;
        let mut text: String = corpus.chars().cycle().take(chars.saturating_sub(60)).collect();
        text.push_str("\n\nSummarize the above in three bullet points.");
        let req = ChatRequest::from_value(json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text}]}))
        .unwrap();
        let scanned = classify(&req, None).features.scanned_bytes;
        for _ in 0..iters / 10 {
            std::hint::black_box(classify(&req, None));
        }
        let mut t: Vec<f64> = (0..iters)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(classify(std::hint::black_box(&req), None));
                s.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        t.sort_by(f64::total_cmp);
        println!(
            "| {tokens} tokens | {} | {scanned} | {:.1} µs | {:.1} µs | {iters} |",
            text.chars().count(),
            q(&t, 0.5),
            q(&t, 0.99)
        );
    }
    println!();
}

fn q(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Mann-Whitney AUC: P(hard > easy) + P(tie) / 2.
fn auc(easy: &[f64], hard: &[f64]) -> f64 {
    if easy.is_empty() || hard.is_empty() {
        return f64::NAN;
    }
    let mut s = 0.0;
    for &h in hard {
        for &e in easy {
            s += if h > e {
                1.0
            } else if h == e {
                0.5
            } else {
                0.0
            };
        }
    }
    s / (easy.len() * hard.len()) as f64
}
