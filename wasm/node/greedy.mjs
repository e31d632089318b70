// Runs Shear's pure WebAssembly module (wasm/host/shear.wasm.gz) in
// Node.js with its built-in WASI, no npm packages: loads a GGUF model and
// prints the greedy continuation of BOS as JSON. It exercises the ABI of
// docs/WASM.md from a second, non-Go host.
//
//   node greedy.mjs MODEL.gguf N
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { WASI } from 'node:wasi';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [modelPath, n] = [process.argv[2], Number(process.argv[3] ?? 64)];
const here = path.dirname(fileURLToPath(import.meta.url));
const wasm = gunzipSync(await readFile(path.join(here, '..', 'host', 'shear.wasm.gz')));

const wasi = new WASI({ version: 'preview1', args: ['shear'], env: {}, returnOnExit: true });
let instance;
const imports = {
  ...wasi.getImportObject(),
  // Progress and interruption: never interrupt.
  shear_host: { poll: () => 0 },
};
({ instance } = await WebAssembly.instantiate(wasm, imports));
wasi.initialize(instance); // runs _initialize: a reactor, not a command
const x = instance.exports;

const enc = new TextEncoder(), dec = new TextDecoder();
const bytes = (ptr, len) => new Uint8Array(x.memory.buffer, ptr, len); // re-read: memory may grow

function put(buf) {
  if (buf.length === 0) return 0;
  const p = x.shear_alloc(buf.length);
  if (p === 0) throw new Error('shear_alloc: ' + lastError());
  bytes(p, buf.length).set(buf);
  return p;
}
const lastError = () => dec.decode(bytes(x.shear_last_error_ptr(), x.shear_last_error_len()));
const result = () => dec.decode(bytes(x.shear_result_ptr(), x.shear_result_len()));
function check(status, what) {
  if (status < 0) throw new Error(`${what}: status ${status}: ${lastError()}`);
  return status;
}

if (x.shear_abi_version() !== 2) throw new Error('ABI version ' + x.shear_abi_version());
const gguf = await readFile(modelPath);
const g = put(gguf);
const model = check(x.shear_load_model(g, gguf.length, 0, 0), 'shear_load_model');
check(x.shear_free(g), 'shear_free');
const info = JSON.parse(result());

const req = enc.encode(JSON.stringify({ n, ignore_eos: true }));
const r = put(req);
check(x.shear_generate(model, r, req.length), 'shear_generate');
const out = JSON.parse(result());
x.shear_free(r);
process.stdout.write(JSON.stringify({ vocab: info.vocab, tokens: out.tokens, text: out.text }) + '\n');
