// The JS side of the edge shell, in Node: what `crossings.js` hands the runtime's bindings.
import assert from 'node:assert/strict';
import test from 'node:test';
import { writeDataPoint } from '../../src/edge/crossings.js';

test('a cost event goes to Analytics Engine as the one data point its JSON describes', () => {
  const written = [];
  const env = { COST_EVENTS: { writeDataPoint: (point) => written.push(point) } };
  const point = '{"indexes":["acme"],"blobs":["say \\"hi\\"\\n","openai"],"doubles":[10.0,0.5]}';
  assert.equal(writeDataPoint(env, 'COST_EVENTS', point), true);
  assert.deepEqual(written, [{ indexes: ['acme'], blobs: ['say "hi"\n', 'openai'], doubles: [10, 0.5] }]);
  // No dataset bound (local runs, the benchmarks): nothing written, no error.
  assert.equal(writeDataPoint({}, 'COST_EVENTS', point), false);
  assert.equal(writeDataPoint({ COST_EVENTS: 'not a dataset' }, 'COST_EVENTS', point), false);
  // A dataset's refusal (a limit exceeded) reaches the caller, which logs it.
  const refusing = { COST_EVENTS: { writeDataPoint: () => { throw new Error('blobs too large'); } } };
  assert.throws(() => writeDataPoint(refusing, 'COST_EVENTS', point), /blobs too large/);
});
