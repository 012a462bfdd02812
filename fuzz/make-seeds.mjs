#!/usr/bin/env node
// Writes the seed corpora in fuzz/corpus/<target>/seed-* from the project's real fixtures:
// provider streams recorded from the fake upstream (tests/fake-upstream/server.mjs), the
// policies in policies/, and request bodies shaped like the integration tests'. Re-run it when
// a fixture changes: `node fuzz/make-seeds.mjs`.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeUpstream, TEST_KEYS } from '../tests/fake-upstream/server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = (target) => join(root, 'fuzz', 'corpus', target);

/** Replaces a target's generated seeds; `seed-found-*`, inputs a fuzzer found a defect with, stay. */
function writeSeeds(target, seeds) {
  const dir = corpus(target);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith('seed-') && !f.startsWith('seed-found-')) rmSync(join(dir, f));
  for (const [name, bytes] of Object.entries(seeds)) writeFileSync(join(dir, `seed-${name}`), bytes);
}

// Requests: valid shapes the router serves, and the kinds of mistakes tests/integration/bad_input checks.
const user = { role: 'user', content: 'What is the weather in Paris?' };
const chat = {
  basic: { model: 'gpt-4o-mini', messages: [user] },
  stream: { model: 'fast', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'system', content: 'Be brief.' }, user], max_tokens: 64, temperature: 0.2 },
  tools: {
    model: 'claude-sonnet-4-5',
    messages: [user, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, { role: 'tool', tool_call_id: 'call_1', content: '18C' }],
    tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    tool_choice: 'auto',
  },
  parts: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] }], stop: ['\n\n', 'END'], n: 1, seed: 7 },
  schema: { model: 'gpt-4.1-mini', messages: [user], response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' }, strict: true } }, logprobs: true, top_logprobs: 3, metadata: { feature: 'search' }, user: 'u-1' },
};
const chatBad = {
  'bad-missing-messages': '{"model":"gpt-4o-mini"}',
  'bad-type': '{"model":"gpt-4o-mini","messages":[{"role":"user","content":42}]}',
  'bad-range': '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"temperature":3}',
  'bad-truncated': '{"model":"gpt-4o-mini","messages":[{"role":"us',
  'bad-deep': `{"model":"m","messages":${'['.repeat(70)}`,
};
// Responses API bodies (the same target parses every input both ways).
const responses = {
  'responses-basic': { model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'What is the weather in Paris?', max_output_tokens: 64, reasoning: { effort: 'low' } },
  'responses-items': {
    model: 'claude-sonnet-4-5',
    input: [user, { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }, { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: '18C' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] }],
    tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }, { type: 'custom', name: 'sql', format: { type: 'grammar', syntax: 'lark', definition: 'start: x' } }],
    tool_choice: { type: 'function', name: 'get_weather' },
    text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object' }, strict: true } },
    stream: true,
  },
};
// Anthropic Messages API bodies (parsed a third way).
const messages = {
  'messages-basic': { model: 'claude-haiku-4-5', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'What is the weather in Paris?' }], thinking: { type: 'enabled', budget_tokens: 2048 } },
  'messages-tool-loop': {
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    system: [{ type: 'text', text: 'You are a coding agent.', cache_control: { type: 'ephemeral' } }],
    tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } }, cache_control: { type: 'ephemeral' } }],
    tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'Call the tool.', signature: 'sig' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }], is_error: false }, { type: 'text', text: 'Thanks' }] },
    ],
    stream: true,
  },
};
writeSeeds('chat_request', {
  ...Object.fromEntries(Object.entries(chat).map(([k, v]) => [k, JSON.stringify(v)])),
  ...chatBad,
  ...Object.fromEntries(Object.entries(responses).map(([k, v]) => [k, JSON.stringify(v)])),
  ...Object.fromEntries(Object.entries(messages).map(([k, v]) => [k, JSON.stringify(v)])),
});

// request_translators input: [selector][body]. The selector's low four bits index fuzz/src/lib.rs
// all_providers() (seed catalog providers by id: anthropic, deepseek, gemini, groq, mistral,
// openai; then azure), its high four bits the model slot of that wire format (see the target).
// Every valid request goes to every provider, each at another model slot, plus the requests
// whose translation depends most on the model: reasoning effort, a prefill, a tool loop's last call.
const translated = {
  ...chat,
  thinking: { model: 'smart', reasoning_effort: 'high', temperature: 0.2, top_p: 0.5, max_tokens: 3000, messages: [user] },
  prefill: { model: 'smart', messages: [user, { role: 'assistant', content: 'The weather is ' }] },
  'tool-history': { model: 'smart', messages: [...chat.tools.messages, { role: 'user', content: 'Summarise.' }] },
};
const translatorSeeds = {};
Object.entries(translated).forEach(([name, body], i) => {
  for (let provider = 0; provider < 7; provider++) {
    const slot = (i + provider) % 5;
    translatorSeeds[`${name}-${provider}`] = Buffer.concat([Buffer.from([(slot << 4) | provider]), Buffer.from(JSON.stringify(body))]);
  }
});
writeSeeds('request_translators', translatorSeeds);

writeSeeds('embeddings_request', {
  one: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello world' }),
  many: JSON.stringify({ model: 'text-embedding-3-large', input: ['a', 'b', 'c'], encoding_format: 'base64', dimensions: 256, user: 'u-1' }),
  tokens: JSON.stringify({ model: 'text-embedding-3-small', input: [[1, 2, 3], [4, 5]] }),
  'bad-empty': JSON.stringify({ model: 'text-embedding-3-small', input: [] }),
  'bad-format': JSON.stringify({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'hex' }),
});

writeSeeds('policy_loader', Object.fromEntries(
  readdirSync(join(root, 'policies')).filter((f) => f.endsWith('.toml')).map((f) => [f.replace(/\.toml$/, ''), readFileSync(join(root, 'policies', f))]),
));

// Streams: what each provider really sends (as the fake upstream plays it), plain and with a tool call.
const up = await startFakeUpstream({ port: 0 });
const streams = {};
const answers = {};
try {
  const ask = async (name, path, headers, body) => {
    const r = await fetch(`${up.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status} ${await r.text()}`);
    streams[name] = Buffer.from(await r.arrayBuffer());
  };
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  for (const withTools of [false, true]) {
    const suffix = withTools ? '-tools' : '';
    const oa = { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [user], ...(withTools ? { tools } : {}) };
    await ask(`openai${suffix}`, '/openai/v1/chat/completions', { authorization: `Bearer ${TEST_KEYS.openai}` }, oa);
    await ask(`azure${suffix}`, '/azure/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', { 'api-key': TEST_KEYS.azure }, oa);
    await ask(`anthropic${suffix}`, '/anthropic/v1/messages', { 'x-api-key': TEST_KEYS.anthropic, 'anthropic-version': '2023-06-01' }, {
      model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: user.content }],
      ...(withTools ? { tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] } : {}),
    });
    await ask(`gemini${suffix}`, '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { 'x-goog-api-key': TEST_KEYS.gemini }, {
      contents: [{ role: 'user', parts: [{ text: user.content }] }],
      ...(withTools ? { tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'object' } }] }] } : {}),
    });
  }
  // Whole answers (and an embeddings answer), as each provider sends them.
  const whole = async (name, path, headers, body) => {
    const r = await fetch(`${up.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status} ${await r.text()}`);
    answers[name] = Buffer.from(await r.arrayBuffer());
  };
  const oa = { model: 'gpt-4o-mini', messages: [user], tools };
  await whole('openai', '/openai/v1/chat/completions', { authorization: `Bearer ${TEST_KEYS.openai}` }, oa);
  await whole('azure', '/azure/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', { 'api-key': TEST_KEYS.azure }, oa);
  await whole('anthropic', '/anthropic/v1/messages', { 'x-api-key': TEST_KEYS.anthropic, 'anthropic-version': '2023-06-01' }, {
    model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: user.content }], tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
  });
  await whole('gemini', '/gemini/v1beta/models/gemini-2.5-flash:generateContent', { 'x-goog-api-key': TEST_KEYS.gemini }, {
    contents: [{ role: 'user', parts: [{ text: user.content }] }], tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'object' } }] }],
  });
  await whole('openai-embeddings', '/openai/v1/embeddings', { authorization: `Bearer ${TEST_KEYS.openai}` }, { model: 'text-embedding-3-small', input: ['a', 'b'] });
} finally {
  await up.close();
}

// sse_parser input: [0 chunk lengths][payload]; the fuzzer mutates where the cuts fall.
writeSeeds('sse_parser', Object.fromEntries(Object.entries(streams).map(([k, v]) => [k, Buffer.concat([Buffer.from([0]), v])])));

// stream_translators input: [provider selector][0 chunk lengths][payload]. The selector's high
// bits index fuzz/src/lib.rs all_providers() (seed catalog providers by id, then azure); its
// low bit asks for usage.
const providerIndex = { anthropic: 0, gemini: 2, openai: 5, azure: 6 };
writeSeeds('stream_translators', Object.fromEntries(Object.entries(streams).map(([k, v]) => {
  const index = providerIndex[k.replace(/-tools$/, '')];
  return [k, Buffer.concat([Buffer.from([(index << 1) | 1, 0]), v])];
})));
// provider_answers input: [selector][body]. The selector's low four bits index all_providers()
// as above; its high bits the target's model list (gpt-4o-mini, o4-mini, claude-sonnet-4-5,
// gemini-2.5-flash). Errors as the providers word them, with usage that disagrees with itself.
const modelIndex = { openai: 0, azure: 0, anthropic: 2, gemini: 3, 'openai-embeddings': 0 };
const answerSeeds = Object.fromEntries(Object.entries(answers).map(([k, v]) => {
  const index = providerIndex[k.replace(/-embeddings$/, '')];
  return [`answer-${k}`, Buffer.concat([Buffer.from([index | (modelIndex[k] << 4)]), v])];
}));
const errors = {
  'openai-unsupported': [5, { error: { message: "Unsupported parameter: 'temperature' is not supported with this model.", type: 'invalid_request_error', param: 'temperature', code: 'unsupported_parameter' } }],
  'openai-429': [5, { error: { message: 'Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 200000, Used 199000. Please try again in 1.2s.', type: 'tokens', code: 'rate_limit_exceeded' } }],
  'anthropic-overloaded': [0, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }],
  'gemini-quota': [2, { error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '17s' }] } }],
  'mistral-422': [5, { detail: [{ type: 'extra_forbidden', loc: ['body', 'user'], msg: 'Extra inputs are not permitted' }] }],
  'usage-disagrees': [5, { choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 18446744073709551615, cost: 1e300, prompt_tokens_details: { cached_tokens: 9, cache_write_tokens: 7, audio_tokens: 5 },
      completion_tokens_details: { reasoning_tokens: 4, audio_tokens: 8 } } }],
};
for (const [k, [index, body]] of Object.entries(errors)) answerSeeds[`error-${k}`] = Buffer.concat([Buffer.from([index]), Buffer.from(JSON.stringify(body))]);
writeSeeds('provider_answers', answerSeeds);
console.log(`seeds written: ${Object.keys(streams).length} streams, ${Object.keys(answers).length} whole answers`);
