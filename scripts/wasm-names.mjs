// The wasm's function names, kept beside the bundle instead of inside it.
//
// worker-build leaves the module's `name` section in (Rust's mangled function names, for stack
// traces): about 98 KiB of the gzipped bundle, which the Workers Free plan caps at 3 MiB. The
// deployed module goes without it; the copy with it stays in build/ to read traces and profiles
// by. The section is cut out byte for byte, never by rewriting the module, so every function
// keeps its index and a trace's `wasm-function[n]` is the `n` of the named copy.
//
//   node scripts/wasm-names.mjs strip <module.wasm> <named-copy.wasm>
//       copies <module.wasm> to <named-copy.wasm>, then removes its name section in place
//   node scripts/wasm-names.mjs name [named-copy.wasm] < trace.txt
//       prints the text with each `wasm-function[n]` followed by its name
//       (default copy: build/index_bg.names.wasm)
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const NAME_SECTION = 'name';
const FUNCTION_NAMES = 1; // the name section's subsection of function names

// Reads an unsigned LEB128 number at `at`: [value, offset after it].
function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined) throw new Error('the module ends inside a number');
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

function readName(bytes, at) {
  const [length, start] = readU32(bytes, at);
  return [bytes.subarray(start, start + length).toString('utf8'), start + length];
}

// The module's sections, in order: { id, name (custom sections), start, end (whole section),
// contentStart (after the custom section's name) }.
function sections(bytes) {
  if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  const found = [];
  let at = 8;
  while (at < bytes.length) {
    const start = at;
    const id = bytes[at];
    const [size, contentStart] = readU32(bytes, at + 1);
    const end = contentStart + size;
    if (end > bytes.length) throw new Error(`section ${id} runs past the module's end`);
    const section = { id, start, end, contentStart };
    if (id === 0) [section.name, section.contentStart] = readName(bytes, contentStart);
    found.push(section);
    at = end;
  }
  return found;
}

export function withoutNames(bytes) {
  const kept = sections(bytes).filter((s) => !(s.id === 0 && s.name === NAME_SECTION));
  return Buffer.concat([bytes.subarray(0, 8), ...kept.map((s) => bytes.subarray(s.start, s.end))]);
}

// Function index -> name, from the name section's function names.
export function functionNames(bytes) {
  const names = new Map();
  const section = sections(bytes).find((s) => s.id === 0 && s.name === NAME_SECTION);
  if (!section) return names;
  let at = section.contentStart;
  while (at < section.end) {
    const kind = bytes[at];
    const [size, start] = readU32(bytes, at + 1);
    if (kind === FUNCTION_NAMES) {
      let [count, p] = readU32(bytes, start);
      for (; count > 0; count--) {
        let index;
        let name;
        [index, p] = readU32(bytes, p);
        [name, p] = readName(bytes, p);
        names.set(index, name);
      }
    }
    at = start + size;
  }
  return names;
}

// `text` with each `wasm-function[n]` followed by its name in `names`.
export function nameFunctions(text, names) {
  return text.replace(/wasm-function\[(\d+)\]/g, (whole, n) => `${whole} ${names.get(Number(n)) ?? '(no name)'}`);
}

const [command, ...args] = process.argv.slice(2);
const run = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (!run) {
  // imported (by the tests)
} else if (command === 'strip' && args.length === 2) {
  const [module, namedCopy] = args;
  const bytes = readFileSync(module);
  if (functionNames(bytes).size === 0) {
    // Stripped already (run again by hand, or after an interrupted build): the named copy, if
    // any, is the one to keep.
    console.log(`[wasm-names] ${module} has no function names; ${namedCopy} left as it is`);
    process.exit(0);
  }
  copyFileSync(module, namedCopy);
  const stripped = withoutNames(bytes);
  writeFileSync(module, stripped);
  console.log(`[wasm-names] ${module}: name section out (${bytes.length - stripped.length} bytes); named copy ${namedCopy}`);
} else if (command === 'name' && args.length <= 1) {
  const names = functionNames(readFileSync(args[0] ?? 'build/index_bg.names.wasm'));
  const text = readFileSync(0, 'utf8');
  process.stdout.write(nameFunctions(text, names));
} else {
  console.error('usage: node scripts/wasm-names.mjs strip <module.wasm> <named-copy.wasm> | name [named-copy.wasm] < trace');
  process.exit(2);
}
