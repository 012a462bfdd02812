// The deployed module goes without its name section and build/index_bg.names.wasm keeps it
// (scripts/wasm-names.mjs): the two must be the same code, so that a trace's wasm-function[n]
// names the right function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { functionNames, nameFunctions, withoutNames } from '../../scripts/wasm-names.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// A module importing one function (index 0) and defining two: 1 "quiet" and 2 "boom", which
// traps, exported as "run"; then a name section and another custom section after it.
function moduleWithNames() {
  const name = (s) => [s.length, ...Buffer.from(s)];
  const section = (id, content) => [id, content.length, ...content];
  const functionNamesSub = [2, 1, ...name('quiet'), 2, ...name('boom')];
  return Buffer.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 0, 0]), // one type: () -> ()
    ...section(2, [1, ...name('m'), ...name('f'), 0x00, 0]), // import m.f
    ...section(3, [2, 0, 0]), // two functions
    ...section(7, [1, ...name('run'), 0x00, 2]), // export "run" = function 2
    ...section(10, [2, 2, 0, 0x0b, 3, 0, 0x00, 0x0b]), // quiet: end; boom: unreachable
    ...section(0, [...name('name'), ...section(1, functionNamesSub)]),
    ...section(0, [...name('kept'), 7]),
  ]);
}

function trapTrace(bytes) {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { f() {} } });
  try {
    instance.exports.run();
  } catch (e) {
    return e.stack;
  }
  assert.fail('the function did not trap');
}

test('stripping removes the name section only, and a trace of the stripped module is named by the copy', () => {
  const named = moduleWithNames();
  const stripped = withoutNames(named);
  const customs = (bytes, which) => WebAssembly.Module.customSections(new WebAssembly.Module(bytes), which).length;
  assert.equal(customs(named, 'name'), 1);
  assert.equal(customs(stripped, 'name'), 0, 'the name section is out');
  assert.equal(customs(stripped, 'kept'), 1, 'other custom sections stay');
  assert.equal(named.length - stripped.length, 2 + 5 + 2 + 14, 'exactly the name section went');

  assert.match(trapTrace(named), /boom/);
  const trace = trapTrace(stripped);
  assert.doesNotMatch(trace, /boom/, 'the stripped module has no names for the runtime to show');
  assert.match(trace, /wasm-function\[2\]/);
  assert.deepEqual([...functionNames(named)], [[1, 'quiet'], [2, 'boom']]);
  assert.match(nameFunctions(trace, functionNames(named)), /wasm-function\[2\] boom/);
  assert.deepEqual([...functionNames(stripped)], []);
});

test('strip keeps the named copy, and run again on the stripped module leaves that copy alone', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'wasm-names-'));
  try {
    const [module, copy] = [path.join(dir, 'm.wasm'), path.join(dir, 'm.names.wasm')];
    const named = moduleWithNames();
    writeFileSync(module, named);
    const strip = () => execFileSync('node', [path.join(ROOT, 'scripts/wasm-names.mjs'), 'strip', module, copy]);
    strip();
    assert.ok(readFileSync(copy).equals(named));
    assert.ok(readFileSync(module).equals(withoutNames(named)));
    strip();
    assert.ok(readFileSync(copy).equals(named), 'the names are not lost to a second run');
    assert.ok(readFileSync(module).equals(withoutNames(named)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built module is the named copy less its name section', () => {
  const deployed = readFileSync(path.join(ROOT, 'build/index_bg.wasm'));
  const named = readFileSync(path.join(ROOT, 'build/index_bg.names.wasm'));
  // (Node 20 cannot compile the router's module, which uses wasm GC types: read as bytes.)
  assert.equal(functionNames(deployed).size, 0, 'no names deployed');
  assert.ok(deployed.equals(withoutNames(named)), 'the same code, function for function');
  const names = [...functionNames(named).values()];
  assert.ok(names.some((n) => n.includes('costrouter::')), "the copy names the router's functions");
});
