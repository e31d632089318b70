// greedy.mjs runs llama.cpp (the CPU build inside node-llama-cpp) on a GGUF
// file and prints its greedy continuation of [BOS] as JSON:
//
//	node greedy.mjs MODEL.gguf N  →  {"tokens": [...], "bos": 1}
//
// Token level only: no chat template, no tokenisation of text, temperature 0
// (argmax), no repeat penalty. One thread, no GPU, so runs are reproducible.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, nArg] = process.argv.slice(2);
if (!modelPath) {
    console.error("usage: node greedy.mjs MODEL.gguf [N]");
    process.exit(2);
}
const n = Number(nArg ?? 64);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 1 });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 256, batchSize: 256, threads: 1, sequences: 1 });
const sequence = context.getSequence();

const bos = model.tokens.bos;
const out = [];
for await (const token of sequence.evaluate([bos], { temperature: 0 })) {
    out.push(token);
    if (out.length >= n) break;
}
console.log(JSON.stringify({ tokens: out, bos }));
await context.dispose();
await model.dispose();
await llama.dispose();
