#!/usr/bin/env python3
"""The official Anthropic Python SDK against costrouter's Messages API, unmodified but for its
base URL.

Reads ROUTER_URL (the router's origin) and ROUTER_KEY (a costrouter key) from the environment,
runs messages.create(), messages.stream(), a tool loop, count_tokens() and a refusal through the
SDK for an Anthropic model and an OpenAI one (the router translates to whichever provider serves
the model), and asserts on what the SDK hands back. Every check runs; the script prints one line
per check and exits 1 if any failed.

The router is expected to front the fake providers of tests/fake-upstream, as in
tests/integration/messages.test.mjs, which runs this script.

    ROUTER_URL=http://127.0.0.1:8787 ROUTER_KEY=cr-... python3 tests/sdk/python_anthropic_check.py
"""

import os
import sys

from checks import CheckFailed, expect, run_checks

try:
    import anthropic
    from anthropic import Anthropic
except ImportError:  # pragma: no cover - environment problem, not a router problem
    print("FAIL: the anthropic package is not installed (pip install anthropic==$(cat tests/sdk/python-anthropic-version.txt))", file=sys.stderr)
    sys.exit(2)

MODELS = ["claude-haiku-4-5", "gpt-4o-mini"]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def check_create(client, model):
    raw = client.messages.with_raw_response.create(model=model, max_tokens=200, system="Be friendly.", messages=[{"role": "user", "content": "Say hello"}])
    msg = raw.parse()
    expect(msg.type == "message" and msg.role == "assistant", f"type {msg.type!r} role {msg.role!r}")
    expect(msg.id.startswith("msg_"), f"id {msg.id!r}")
    expect(msg.content[0].type == "text" and "Hello from fake" in msg.content[0].text, f"content {msg.content!r}")
    expect(msg.stop_reason == "end_turn", f"stop_reason {msg.stop_reason!r}")
    expect(msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0, f"usage {msg.usage!r}")
    expect(float(raw.headers.get("x-costrouter-cost-usd", "0")) > 0, "cost header")


def check_stream(client, model):
    texts = []
    with client.messages.stream(model=model, max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]) as stream:
        for text in stream.text_stream:
            texts.append(text)
        final = stream.get_final_message()
    expect("Hello from fake" in final.content[0].text, f"content {final.content!r}")
    expect("".join(texts) == final.content[0].text, "the deltas make the final text")
    expect(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
    expect(final.usage.input_tokens > 0 and final.usage.output_tokens > 0, f"usage {final.usage!r}")


def check_tools(client, model):
    first = client.messages.create(model=model, max_tokens=300, tools=[WEATHER_TOOL], messages=WEATHER_QUESTION)
    expect(first.stop_reason == "tool_use", f"stop_reason {first.stop_reason!r}")
    call = next((b for b in first.content if b.type == "tool_use"), None)
    expect(call is not None and call.name == "get_weather" and call.input == {"city": "Paris"}, f"content {first.content!r}")
    follow_up = client.messages.create(
        model=model,
        max_tokens=300,
        tools=[WEATHER_TOOL],
        messages=WEATHER_QUESTION
        + [
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": '{"temperature_c":21}'}]},
        ],
    )
    expect(follow_up.stop_reason == "end_turn", f"follow-up stop_reason {follow_up.stop_reason!r}")
    with client.messages.stream(model=model, max_tokens=300, tools=[WEATHER_TOOL], messages=WEATHER_QUESTION) as stream:
        streamed = stream.get_final_message()
    streamed_call = next((b for b in streamed.content if b.type == "tool_use"), None)
    expect(streamed_call is not None and streamed_call.input == {"city": "Paris"}, f"streamed content {streamed.content!r}")


def check_count_tokens(client):
    counted = client.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "Say hello to everyone in the room"}])
    expect(0 < counted.input_tokens < 100, f"input_tokens {counted.input_tokens!r}")


def check_errors(client):
    try:
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        raise CheckFailed("an unknown model was served")
    except anthropic.NotFoundError as e:
        expect(e.body.get("type") == "error" and e.body["error"]["type"] == "not_found_error", f"body {e.body!r}")
        expect((e.request_id or "").startswith("req_"), f"request_id {e.request_id!r}")


def main():
    router_url = os.environ.get("ROUTER_URL", "").rstrip("/")
    router_key = os.environ.get("ROUTER_KEY", "")
    if not router_url or not router_key:
        print("FAIL: set ROUTER_URL and ROUTER_KEY", file=sys.stderr)
        return 2
    client = Anthropic(base_url=router_url, api_key=router_key, max_retries=0, timeout=20)

    checks = []
    for model in MODELS:
        checks += [
            (f"messages.create {model}", lambda m=model: check_create(client, m)),
            (f"messages.stream {model}", lambda m=model: check_stream(client, m)),
            (f"tools {model}", lambda m=model: check_tools(client, m)),
        ]
    checks += [
        ("count_tokens", lambda: check_count_tokens(client)),
        ("errors", lambda: check_errors(client)),
    ]

    return run_checks(checks, f"anthropic {anthropic.__version__}")


if __name__ == "__main__":
    sys.exit(main())
