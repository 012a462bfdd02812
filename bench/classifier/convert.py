#!/usr/bin/env python3
"""Turns prompt sets shipped inside registry packages into labelled chat requests (JSONL).

Sources (package files downloaded by run.sh into bench/.data/pkgs/, read in place):
  * BIG-bench 1.0.0 (PyPI `bigbench`, sdist; Apache-2.0): JSON tasks. A task's examples are
    rendered the way BIG-bench's own zero-shot JSON task formatter renders them (task_prefix,
    example_input_prefix, input, "choice:" lines, example_output_prefix).
  * BFCL (PyPI `bfcl-eval` 2026.3.23 wheel; Apache-2.0): function-calling prompts with their
    function definitions, turned into OpenAI `tools`.
  * WritingBench (inside PyPI `inspect-evals` 0.26.0 wheel, MIT package): the creative
    sub-domains of "Literature & Arts".

Labels are per task (a whole BIG-bench task or BFCL file maps to one class), and so is the
split: every task is either `tune` or `heldout`, so held-out prompts come from tasks whose
templates were never looked at while tuning. Difficulty labels are set-level (easy vs hard
sets named below) and follow the same split.

Usage: convert.py PKG_DIR OUT_JSONL
"""

import glob
import io
import json
import os
import random
import re
import sys
import tarfile
import zipfile

PER_LEAF = 40          # examples sampled per BIG-bench leaf task / BFCL file
WRITINGBENCH_CAP = 120

# (task path prefix, class, split). A prefix matches a leaf task path exactly or as a directory.
BIGBENCH = [
    # classification
    ("irony_identification", "classification", "tune"),
    ("dark_humor_detection", "classification", "tune"),
    ("social_support", "classification", "tune"),
    ("fact_checker/fever", "classification", "tune"),
    ("misconceptions", "classification", "tune"),
    ("snarks", "classification", "tune"),
    ("multiemo/all_sentence_en", "classification", "tune"),
    ("multiemo/all_sentence_de", "classification", "tune"),
    ("multiemo/all_sentence_fr", "classification", "tune"),
    ("multiemo/all_sentence_ru", "classification", "tune"),
    ("multiemo/all_sentence_ja", "classification", "tune"),
    ("multiemo/all_sentence_nl", "classification", "tune"),
    ("intent_recognition", "classification", "heldout"),
    ("empirical_judgments", "classification", "heldout"),
    ("figure_of_speech_detection", "classification", "heldout"),
    ("hinglish_toxicity", "classification", "heldout"),
    ("suicide_risk", "classification", "heldout"),
    ("fact_checker/covid19_scientific", "classification", "heldout"),
    ("metaphor_boolean", "classification", "heldout"),
    ("sports_understanding", "classification", "heldout"),
    ("emojis_emotion_prediction", "classification", "heldout"),
    ("multiemo/all_sentence_es", "classification", "heldout"),
    ("multiemo/all_sentence_it", "classification", "heldout"),
    ("multiemo/all_sentence_zh", "classification", "heldout"),
    ("multiemo/all_sentence_pl", "classification", "heldout"),
    ("multiemo/all_sentence_pt", "classification", "heldout"),
    # extraction (answers read out of a given passage, table or context)
    ("contextual_parametric_knowledge_conflicts", "extraction", "tune"),
    ("disfl_qa", "extraction", "tune"),
    ("natural_instructions/subtask054_multirc_write_correct_answer", "extraction", "tune"),
    ("natural_instructions/subtask061_ropes_answer_generation", "extraction", "tune"),
    ("natural_instructions/subtask049_multirc_questions_needed_to_answer", "extraction", "tune"),
    ("sufficient_information", "extraction", "heldout"),
    ("parsinlu_reading_comprehension", "extraction", "heldout"),
    ("natural_instructions/subtask051_multirc_correct_answer_single_sentence", "extraction", "heldout"),
    ("natural_instructions/subtask028_drop_answer_generation", "extraction", "heldout"),
    ("natural_instructions/subtask041_qasc_answer_generation", "extraction", "heldout"),
    # summarization
    ("gem/xsum", "summarization", "tune"),
    ("gem/mlsum_de", "summarization", "tune"),
    ("gem/wikilingua_en", "summarization", "heldout"),
    ("gem/mlsum_es", "summarization", "heldout"),
    # rewrite / format
    ("tense", "rewrite", "tune"),
    ("gem/asset", "rewrite", "tune"),
    ("metaphor_understanding/lit2met", "rewrite", "tune"),
    ("natural_instructions/subtask045_miscellaneous_sentence_paraphrasing", "rewrite", "tune"),
    ("natural_instructions/subtask053_multirc_correct_bad_question", "rewrite", "tune"),
    ("rephrase", "rewrite", "tune"),
    ("gem/turk", "rewrite", "heldout"),
    ("gender_inclusive_sentences_german", "rewrite", "heldout"),
    ("metaphor_understanding/met2lit", "rewrite", "heldout"),
    ("scientific_press_release", "rewrite", "heldout"),
    ("natural_instructions/subtask034_winogrande_question_modification_object", "rewrite", "heldout"),
    ("simple_text_editing", "rewrite", "heldout"),
    # translation
    ("conlang_translation/adna_to", "translation", "tune"),
    ("conlang_translation/adna_from", "translation", "tune"),
    ("conlang_translation/atikampe_to", "translation", "tune"),
    ("conlang_translation/gornam_from", "translation", "tune"),
    ("conlang_translation/holuan_to", "translation", "tune"),
    ("language_games/pig_latin_encode", "translation", "tune"),
    ("swahili_english_proverbs", "translation", "tune"),
    ("conlang_translation/mkafala_to", "translation", "heldout"),
    ("conlang_translation/unapuri_from", "translation", "heldout"),
    ("conlang_translation/vaomi_to", "translation", "heldout"),
    ("conlang_translation/postpositive_english_from", "translation", "heldout"),
    ("language_games/pig_latin_decode", "translation", "heldout"),
    ("international_phonetic_alphabet_transliterate", "translation", "heldout"),
    ("persian_idioms", "translation", "heldout"),
    # code
    ("semantic_parsing_spider", "code", "tune"),
    ("code_line_description", "code", "tune"),
    ("semantic_parsing_in_context_sparc", "code", "heldout"),
    ("auto_debugging", "code", "heldout"),
    # math
    ("arithmetic/1_digit_addition", "math", "tune"),
    ("arithmetic/3_digit_addition", "math", "tune"),
    ("arithmetic/5_digit_addition", "math", "tune"),
    ("arithmetic/1_digit_subtraction", "math", "tune"),
    ("arithmetic/5_digit_subtraction", "math", "tune"),
    ("elementary_math_qa/language_hint_only", "math", "tune"),
    ("modified_arithmetic/three_digit_addition_control", "math", "tune"),
    ("chinese_remainder_theorem", "math", "tune"),
    ("mathematical_induction", "math", "tune"),
    ("unit_conversion/si_conversion", "math", "tune"),
    ("unit_interpretation/lv0", "math", "tune"),
    ("unit_interpretation/lv1", "math", "tune"),
    ("matrixshapes", "math", "tune"),
    ("arithmetic/1_digit_multiplication", "math", "heldout"),
    ("arithmetic/3_digit_multiplication", "math", "heldout"),
    ("arithmetic/5_digit_multiplication", "math", "heldout"),
    ("arithmetic/1_digit_division", "math", "heldout"),
    ("arithmetic/5_digit_division", "math", "heldout"),
    ("elementary_math_qa/mathematical_hint_only", "math", "heldout"),
    ("modified_arithmetic/two_digit_multiplication_control", "math", "heldout"),
    ("identify_math_theorems", "math", "heldout"),
    ("key_value_maps", "math", "heldout"),
    ("unit_conversion/unit_addition_general", "math", "heldout"),
    ("unit_conversion/chained_conversion", "math", "heldout"),
    ("unit_interpretation/lv2", "math", "heldout"),
    ("unit_interpretation/lv3", "math", "heldout"),
    ("operators", "math", "heldout"),
    ("simple_arithmetic_json_subtasks/one_digit", "math", "heldout"),
    # reasoning / analysis
    ("logical_deduction", "reasoning", "tune"),
    ("causal_judgment", "reasoning", "tune"),
    ("formal_fallacies_syllogisms_negation", "reasoning", "tune"),
    ("strategyqa", "reasoning", "tune"),
    ("analytic_entailment", "reasoning", "tune"),
    ("temporal_sequences", "reasoning", "tune"),
    ("minute_mysteries_qa/freetext", "reasoning", "tune"),
    ("moral_permissibility", "reasoning", "tune"),
    ("presuppositions_as_nli", "reasoning", "tune"),
    ("navigate", "reasoning", "tune"),
    ("logic_grid_puzzle", "reasoning", "tune"),
    ("tracking_shuffled_objects", "reasoning", "heldout"),
    ("epistemic_reasoning", "reasoning", "heldout"),
    ("crass_ai", "reasoning", "heldout"),
    ("evaluating_information_essentiality", "reasoning", "heldout"),
    ("minute_mysteries_qa/multiplechoice", "reasoning", "heldout"),
    ("winowhy", "reasoning", "heldout"),
    ("reasoning_about_colored_objects", "reasoning", "heldout"),
    ("logical_args", "reasoning", "heldout"),
    ("entailed_polarity", "reasoning", "heldout"),
    ("physical_intuition", "reasoning", "heldout"),
    # creative writing
    ("natural_instructions/subtask059_ropes_story_generation", "creative", "tune"),
    ("gem/common_gen", "creative", "heldout"),
    # chat / open questions
    ("topical_chat", "chat", "tune"),
    ("general_knowledge", "chat", "tune"),
    ("periodic_elements/subtask_0", "chat", "tune"),
    ("hhh_alignment/honest", "chat", "tune"),
    ("hhh_alignment/other", "chat", "heldout"),
    ("human_organs_senses", "chat", "heldout"),
    ("known_unknowns", "chat", "heldout"),
    ("qa_wikidata", "chat", "heldout"),
    ("periodic_elements/subtask_1", "chat", "heldout"),
]

# Difficulty: (task path prefix, pair, easy|hard). The split is the task's class split.
DIFFICULTY = [
    # D1: arithmetic, 1-digit (easy) vs 5-digit (hard) operands.
    ("arithmetic/1_digit_", "arithmetic_digits", "easy"),
    ("arithmetic/5_digit_", "arithmetic_digits", "hard"),
    # D2: deduction/tracking over three objects (easy) vs seven (hard).
    ("logical_deduction/three_objects", "objects_3_vs_7", "easy"),
    ("logical_deduction/seven_objects", "objects_3_vs_7", "hard"),
    ("tracking_shuffled_objects/three_objects", "objects_3_vs_7", "easy"),
    ("tracking_shuffled_objects/seven_objects", "objects_3_vs_7", "hard"),
    # D4: one-fact questions (easy) vs tasks their authors tagged "multi-step" or "mathematical proof" (hard).
    ("general_knowledge", "onefact_vs_multistep", "easy"),
    ("periodic_elements", "onefact_vs_multistep", "easy"),
    ("tense", "onefact_vs_multistep", "easy"),
    ("human_organs_senses", "onefact_vs_multistep", "easy"),
    ("emojis_emotion_prediction", "onefact_vs_multistep", "easy"),
    ("simple_arithmetic_json_subtasks/one_digit", "onefact_vs_multistep", "easy"),
    ("mathematical_induction", "onefact_vs_multistep", "hard"),
    ("logic_grid_puzzle", "onefact_vs_multistep", "hard"),
    ("matrixshapes", "onefact_vs_multistep", "hard"),
    ("minute_mysteries_qa", "onefact_vs_multistep", "hard"),
    ("strategyqa", "onefact_vs_multistep", "hard"),
    ("identify_math_theorems", "onefact_vs_multistep", "hard"),
    ("evaluating_information_essentiality", "onefact_vs_multistep", "hard"),
    ("key_value_maps", "onefact_vs_multistep", "hard"),
]

# BFCL files: (file stem, split, difficulty label or None). D3: one function, one call (easy) vs
# several calls to several functions or multi-turn tasks (hard).
BFCL = [
    ("BFCL_v4_simple_python", "tune", "easy"),
    ("BFCL_v4_multiple", "tune", None),
    ("BFCL_v4_parallel", "tune", None),
    ("BFCL_v4_multi_turn_base", "tune", "hard"),
    ("BFCL_v4_irrelevance", "tune", None),
    ("BFCL_v4_simple_java", "heldout", "easy"),
    ("BFCL_v4_simple_javascript", "heldout", "easy"),
    ("BFCL_v4_live_simple", "heldout", "easy"),
    ("BFCL_v4_parallel_multiple", "heldout", "hard"),
    ("BFCL_v4_live_parallel_multiple", "heldout", "hard"),
    ("BFCL_v4_multi_turn_long_context", "heldout", "hard"),
    ("BFCL_v4_live_multiple", "heldout", None),
    ("BFCL_v4_live_irrelevance", "heldout", None),
]

MULTI_TURN_DOCS = {
    "GorillaFileSystem": "gorilla_file_system", "MathAPI": "math_api", "MessageAPI": "message_api",
    "TwitterAPI": "posting_api", "TicketAPI": "ticket_api", "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking", "VehicleControlAPI": "vehicle_control", "WebSearchAPI": "web_search",
    "MemoryAPI_kv": "memory_kv", "MemoryAPI_vector": "memory_vector", "MemoryAPI_rec_sum": "memory_rec_sum",
}

WRITINGBENCH_CREATIVE = {
    "Video Script", "Screenplay", "Podcast Script", "Prose", "Novel Manuscript", "Plot Development",
    "Brainstorm", "Poetry", "Game Design", "Fan Fiction", "Novel Outline", "Greeting Message",
    "Character Design", "Derivative Work", "Host Script", "Lyric Writing",
}

# multiemo leaves carry their language in the name: labels for the language guess.
MULTIEMO_LANG = re.compile(r"multiemo/all_sentence_(\w+)$")


def match(prefix, path):
    return path == prefix or path.startswith(prefix.rstrip("/") + "/") or (prefix.endswith("_") and path.startswith(prefix))


def render(task, ex):
    """A zero-shot prompt the way BIG-bench's JSON task formats one."""
    prefix = task.get("task_prefix", "")
    in_pre = task.get("example_input_prefix", "\nQ: ")
    out_pre = task.get("example_output_prefix", "\nA: ")
    choice_pre = task.get("choice_prefix", "\n  choice: ")
    append = task.get("append_choices_to_input", True)
    text = prefix + in_pre + ex["input"]
    if "target_scores" in ex and append:
        text += "".join(choice_pre + c for c in ex["target_scores"])
    text += out_pre
    return text.strip()


def chat(content, model="gpt-4o-mini", **extra):
    req = {"model": model, "messages": [{"role": "user", "content": content}]}
    req.update(extra)
    return req


def bigbench_tasks(pkgs):
    """(leaf path, task dict) for every mapped task.json in the BIG-bench sdist, read in place."""
    (sdist,) = glob.glob(os.path.join(pkgs, "bigbench-1.0.0.tar.gz"))
    root = "bigbench-1.0.0/bigbench/benchmark_tasks/"
    found = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for m in tar:
            if not (m.isfile() and m.name.startswith(root) and m.name.endswith("/task.json")):
                continue
            leaf = m.name[len(root):-len("/task.json")]
            if any(match(p, leaf) for p, _, _ in BIGBENCH):
                found[leaf] = json.load(tar.extractfile(m))
    return sorted(found.items())


def bigbench(pkgs, out):
    used = 0
    for leaf, task in bigbench_tasks(pkgs):
        spec = next(((c, s) for p, c, s in BIGBENCH if match(p, leaf)), None)
        examples = task.get("examples") or []
        if not examples:
            continue
        rng = random.Random("bigbench/" + leaf)
        picked = rng.sample(examples, min(PER_LEAF, len(examples)))
        diff = next(((pair, lab) for p, pair, lab in DIFFICULTY if match(p, leaf)), (None, None))
        lang = None
        m = MULTIEMO_LANG.search(leaf)
        if m:
            lang = "en" if m.group(1) == "en" else "non-en"
        for i, ex in enumerate(picked):
            out.append({
                "id": f"bigbench/{leaf}/{i}", "source": "bigbench", "task": leaf,
                "label": spec[0], "split": spec[1], "dpair": diff[0], "dlabel": diff[1], "lang": lang,
                "request": chat(render(task, ex)),
            })
            used += 1
    return used


def to_tool(fn):
    def fix(schema):
        if isinstance(schema, dict):
            return {k: ("object" if k == "type" and v == "dict" else fix(v)) for k, v in schema.items()}
        if isinstance(schema, list):
            return [fix(x) for x in schema]
        return schema
    name = re.sub(r"[^A-Za-z0-9_-]", "_", fn["name"])[:64]
    f = {"name": name, "description": fn.get("description", "")[:1024]}
    if "parameters" in fn:
        f["parameters"] = fix(fn["parameters"])
    return {"type": "function", "function": f}


def jsonl(blob):
    return [json.loads(l) for l in io.TextIOWrapper(io.BytesIO(blob), encoding="utf-8") if l.strip()]


def bfcl(pkgs, out):
    (wheel,) = glob.glob(os.path.join(pkgs, "bfcl_eval-*.whl"))
    zf = zipfile.ZipFile(wheel)
    data = "bfcl_eval/data/"
    docs = {}
    for cls, stem in MULTI_TURN_DOCS.items():
        name = data + "multi_turn_func_doc/" + stem + ".json"
        if name in zf.namelist():
            docs[cls] = jsonl(zf.read(name))
    used = 0
    for stem, split, dlabel in BFCL:
        rows = jsonl(zf.read(data + stem + ".json"))
        rng = random.Random("bfcl/" + stem)
        for i, row in enumerate(rng.sample(rows, min(PER_LEAF, len(rows)))):
            first_turn = row["question"][0]
            messages = [{"role": m["role"], "content": m["content"]} for m in first_turn]
            if "function" in row:
                fns = row["function"]
            else:
                excluded = set(row.get("excluded_function", []))
                fns = [f for c in row.get("involved_classes", []) for f in docs.get(c, []) if f["name"] not in excluded]
            req = {"model": "gpt-4o-mini", "messages": messages, "tools": [to_tool(f) for f in fns][:128]}
            out.append({
                "id": f"bfcl/{stem}/{i}", "source": "bfcl", "task": stem, "label": "agentic_tool_use",
                "split": split, "dpair": "bfcl_simple_vs_multi" if dlabel else None, "dlabel": dlabel, "lang": None,
                "request": req,
            })
            used += 1
    return used


def writingbench(pkgs, out):
    (wheel,) = glob.glob(os.path.join(pkgs, "inspect_evals-*.whl"))
    rows = jsonl(zipfile.ZipFile(wheel).read("inspect_evals/writingbench/benchmark_all.jsonl"))
    rows = [r for r in rows if r["domain1"] == "Literature & Arts" and r["domain2"] in WRITINGBENCH_CREATIVE]
    rows.sort(key=lambda r: r["index"])
    used = 0
    for r in rows[:WRITINGBENCH_CAP]:
        zh = bool(re.search("[\u4e00-\u9fff]", r["query"][:400]))
        out.append({
            "id": f"writingbench/{r['index']}", "source": "writingbench", "task": "writingbench/" + r["domain2"],
            "label": "creative", "split": "tune" if r["index"] % 2 == 0 else "heldout",
            "dpair": None, "dlabel": None, "lang": "non-en" if zh else "en",
            "request": chat(r["query"]),
        })
        used += 1
    return used


def main():
    src, dst = sys.argv[1], sys.argv[2]
    out = []
    counts = {"bigbench": bigbench(src, out), "bfcl": bfcl(src, out), "writingbench": writingbench(src, out)}
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    with open(dst, "w", encoding="utf-8") as fh:
        for r in out:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    missing = [p for p, _, _ in BIGBENCH if not any(r["source"] == "bigbench" and match(p, r["task"]) for r in out)]
    print(f"wrote {len(out)} requests to {dst}: {counts}", file=sys.stderr)
    if missing:
        print(f"note: no examples for {missing}", file=sys.stderr)


if __name__ == "__main__":
    main()
