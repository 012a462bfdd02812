#!/usr/bin/env python3
"""The official OpenAI Python SDK against costrouter, unmodified but for its base URL.

Reads ROUTER_URL (the router's origin, e.g. http://127.0.0.1:8787) and ROUTER_KEY (a costrouter
key) from the environment, runs plain chat, streaming, tool calls, the Responses API, JSON mode,
models.list() and embeddings.create() through the SDK, and asserts on what the SDK hands back. Every check runs;
the script prints one line per check and exits 1 if any failed, naming what was wrong.

The router is expected to front the fake providers of tests/fake-upstream (as the integration
tests and `make dev` without keys set up): answers are deterministic there, e.g. a tool call to
the declared tool with {"city": "Paris"} when the last user message mentions the weather.

    ROUTER_URL=http://127.0.0.1:8787 ROUTER_KEY=cr-... python3 tests/sdk/python_sdk_check.py
"""

import json
import os
import sys

from checks import CheckFailed, expect, run_checks

try:
    import openai
    from openai import OpenAI
except ImportError:  # pragma: no cover - environment problem, not a router problem
    print("FAIL: the openai package is not installed (pip install openai==$(cat tests/sdk/python-openai-version.txt))", file=sys.stderr)
    sys.exit(2)

CHAT_MODELS = ["gpt-4o-mini", "claude-haiku-4-5"]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def check_chat(client, model):
    resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hello"}])
    content = resp.choices[0].message.content
    expect(isinstance(content, str) and "Hello from fake" in content, f"unexpected content: {content!r}")
    expect(resp.choices[0].finish_reason == "stop", f"finish_reason {resp.choices[0].finish_reason!r}")
    expect(resp.usage is not None and resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0, f"usage {resp.usage!r}")
    expect(resp.object == "chat.completion", f"object {resp.object!r}")


def check_raw_response_cost_header(client, model):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "Say hello"}])
    cost = raw.headers.get("x-costrouter-cost-usd")
    expect(cost is not None, "no x-costrouter-cost-usd header")
    expect(float(cost) > 0, f"x-costrouter-cost-usd is {cost!r}")
    expect(raw.headers.get("x-costrouter-request-id", "").startswith("req_"), "no x-costrouter-request-id header")
    completion = raw.parse()
    expect("Hello from fake" in (completion.choices[0].message.content or ""), "the raw response does not parse into the completion")


def check_stream(client, model):
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello"}], stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage, chunks = "", None, None, 0
    for chunk in stream:
        chunks += 1
        expect(chunk.object == "chat.completion.chunk", f"chunk object {chunk.object!r}")
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    expect(chunks >= 2, f"only {chunks} chunks")
    expect("Hello from fake" in text, f"streamed text {text!r}")
    expect(finish == "stop", f"finish_reason {finish!r}")
    expect(usage is not None and usage.completion_tokens > 0, f"no usage chunk (usage={usage!r})")


def check_tools(client, model):
    resp = client.chat.completions.create(model=model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL])
    choice = resp.choices[0]
    expect(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason!r}")
    calls = choice.message.tool_calls or []
    expect(len(calls) == 1, f"{len(calls)} tool calls")
    call = calls[0]
    expect(call.type == "function" and call.function.name == "get_weather", f"tool call {call!r}")
    expect(json.loads(call.function.arguments) == {"city": "Paris"}, f"arguments {call.function.arguments!r}")
    expect(bool(call.id), "the tool call has no id")
    # The tool's result goes back, and the model answers in text.
    follow_up = client.chat.completions.create(
        model=model,
        tools=[WEATHER_TOOL],
        messages=WEATHER_QUESTION
        + [
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 21})},
        ],
    )
    expect(follow_up.choices[0].finish_reason == "stop", f"follow-up finish_reason {follow_up.choices[0].finish_reason!r}")
    expect(bool(follow_up.choices[0].message.content), "the follow-up has no text")


def check_streamed_tools(client, model):
    stream = client.chat.completions.create(model=model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL], stream=True)
    name, arguments, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                if delta.function is not None:
                    name += delta.function.name or ""
                    arguments += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    expect(name == "get_weather", f"streamed tool name {name!r}")
    expect(json.loads(arguments) == {"city": "Paris"}, f"streamed arguments {arguments!r}")
    expect(finish == "tool_calls", f"finish_reason {finish!r}")


def check_json_mode(client, model):
    resp = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Give me a JSON object."}],
        response_format={"type": "json_object"},
    )
    content = resp.choices[0].message.content or ""
    try:
        parsed = json.loads(content)
    except ValueError:
        raise CheckFailed(f"JSON mode answered with non-JSON: {content!r}")
    expect(isinstance(parsed, dict), f"JSON mode answered with {type(parsed).__name__}, not an object")


def check_responses(client, model):
    """The Responses API: a whole answer, a streamed one through the SDK's stream helper, and a
    function call whose output is sent back as items."""
    resp = client.responses.create(model=model, instructions="Be friendly.", input="Say hello")
    expect(resp.status == "completed", f"status {resp.status!r}")
    expect("Hello from fake" in resp.output_text, f"output_text {resp.output_text!r}")
    expect(resp.usage is not None and resp.usage.output_tokens > 0, f"usage {resp.usage!r}")
    with client.responses.stream(model=model, input="Say hello") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    expect(final.status == "completed" and deltas == final.output_text and "Hello from fake" in deltas, f"streamed {deltas!r} / {final.output_text!r}")
    tool = {"type": "function", **WEATHER_TOOL["function"]}
    first = client.responses.create(model=model, input="What is the weather in Paris?", tools=[tool])
    calls = [item for item in first.output if item.type == "function_call"]
    expect(len(calls) == 1 and calls[0].name == "get_weather", f"output {first.output!r}")
    expect(json.loads(calls[0].arguments) == {"city": "Paris"}, f"arguments {calls[0].arguments!r}")
    follow_up = client.responses.create(
        model=model,
        tools=[tool],
        input=[{"role": "user", "content": "What is the weather in Paris?"}, *[item.model_dump() for item in first.output],
               {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temperature_c":21}'}],
    )
    expect(follow_up.status == "completed" and follow_up.output_text, f"follow-up {follow_up.output!r}")


def check_conversation(client, model):
    """A conversation continued by previous_response_id (the earlier turn read back by the
    router), then the first response retrieved and deleted by id."""
    first = client.responses.create(model=model, input="What is 2+2?")
    expect(first.store is True, f"store {first.store!r}")
    second = client.responses.create(model=model, previous_response_id=first.id, input="And 3+3?")
    expect(second.status == "completed" and second.previous_response_id == first.id, f"second {second!r}")
    # The fake provider echoes the last user message: the turn was sent as the conversation's last.
    expect("And 3+3?" in second.output_text, f"output_text {second.output_text!r}")
    retrieved = client.responses.retrieve(first.id)
    expect(retrieved.id == first.id and retrieved.output_text == first.output_text, f"retrieved {retrieved!r}")
    client.responses.delete(first.id)
    try:
        client.responses.retrieve(first.id)
        raise CheckFailed("a deleted response was retrieved")
    except openai.NotFoundError:
        pass
    try:
        client.responses.create(model=model, previous_response_id=first.id, input="Again?")
        raise CheckFailed("a deleted response was continued")
    except openai.BadRequestError as e:
        expect(e.code == "previous_response_not_found", f"code {e.code!r}")


def check_models(client):
    ids = [m.id for m in client.models.list()]
    for model in CHAT_MODELS + ["text-embedding-3-small"]:
        expect(model in ids, f"{model} missing from models.list(): {ids}")


def check_embeddings(client):
    resp = client.embeddings.create(model="text-embedding-3-small", input=["first text", "second text"])
    expect(len(resp.data) == 2, f"{len(resp.data)} embeddings for 2 inputs")
    for i, item in enumerate(resp.data):
        expect(item.index == i, f"embedding {i} has index {item.index}")
        vector = list(item.embedding)
        expect(len(vector) > 0 and all(isinstance(x, float) for x in vector), f"embedding {i} is not a float vector: {vector[:4]!r}")
        expect(all(abs(x) <= 1.0 for x in vector), f"embedding {i} is not unit-scaled: {vector[:4]!r}")
    expect(resp.data[0].embedding != resp.data[1].embedding, "two inputs got the same vector")
    expect(resp.usage.prompt_tokens > 0, f"usage {resp.usage!r}")
    # The SDK asks for base64 (float32) unless told otherwise: the same vector, to float32 precision.
    floats = client.embeddings.create(model="text-embedding-3-small", input="first text", encoding_format="float")
    a, b = list(floats.data[0].embedding), list(resp.data[0].embedding)
    expect(len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b)), f"float and default encodings disagree: {a[:3]} vs {b[:3]}")


def check_errors(client, url):
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        raise CheckFailed("an unknown model was accepted")
    except openai.NotFoundError as e:
        expect(e.status_code == 404, f"status {e.status_code}")
        expect(isinstance(e.body, dict) and e.body.get("code") == "model_not_found", f"error body {e.body!r}")
    bad = OpenAI(base_url=url, api_key="cr-not-a-real-key", max_retries=0, timeout=20)
    try:
        bad.models.list()
        raise CheckFailed("a bad key was accepted")
    except openai.AuthenticationError as e:
        expect(e.status_code == 401, f"status {e.status_code}")


def main():
    router_url = os.environ.get("ROUTER_URL", "").rstrip("/")
    router_key = os.environ.get("ROUTER_KEY", "")
    if not router_url or not router_key:
        print("FAIL: set ROUTER_URL and ROUTER_KEY", file=sys.stderr)
        return 2
    base_url = f"{router_url}/v1"
    client = OpenAI(base_url=base_url, api_key=router_key, max_retries=0, timeout=20)

    checks = []
    for model in CHAT_MODELS:
        checks += [
            (f"chat {model}", lambda m=model: check_chat(client, m)),
            (f"with_raw_response cost header {model}", lambda m=model: check_raw_response_cost_header(client, m)),
            (f"stream {model}", lambda m=model: check_stream(client, m)),
            (f"tools {model}", lambda m=model: check_tools(client, m)),
            (f"streamed tools {model}", lambda m=model: check_streamed_tools(client, m)),
            (f"responses {model}", lambda m=model: check_responses(client, m)),
        ]
    checks += [
        ("JSON mode gpt-4o-mini", lambda: check_json_mode(client, "gpt-4o-mini")),
        ("responses: previous_response_id, retrieve, delete", lambda: check_conversation(client, "gpt-4o-mini")),
        ("models.list()", lambda: check_models(client)),
        ("embeddings.create()", lambda: check_embeddings(client)),
        ("errors", lambda: check_errors(client, base_url)),
    ]

    return run_checks(checks, f"openai {openai.__version__}")


if __name__ == "__main__":
    sys.exit(main())
