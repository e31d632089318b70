// greedy.mjs runs llama.cpp (the CPU build inside node-llama-cpp) on a GGUF
// file and prints its greedy continuation as JSON:
//
//	node greedy.mjs MODEL.gguf N [PROMPT]  →  {"tokens": [...], "bos": 1, "prompt": [...]}
//
// Without PROMPT the input is [BOS]. With it, the input is the prompt as
// llama.cpp's tokenize with add_special: BOS first if the model adds one
// (tokenizer.ggml.add_bos_token), the text's tokens (special tokens not
// parsed), EOS last if the model adds one; "prompt" echoes that input. No
// chat template, temperature 0 (argmax), no repeat penalty. One thread, no
// GPU, so runs are reproducible.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, nArg, promptText] = process.argv.slice(2);
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
let prompt = [bos];
if (promptText !== undefined) {
    prompt = [];
    if (model.tokens.shouldPrependBosToken) prompt.push(bos);
    prompt.push(...model.tokenize(promptText, false));
    if (model.tokens.shouldAppendEosToken) prompt.push(model.tokens.eos);
}
if (prompt.length === 0) {
    console.error("greedy.mjs: the prompt is empty and the model adds no BOS");
    process.exit(1);
}
const out = [];
for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
    out.push(token);
    if (out.length >= n) break;
}
console.log(JSON.stringify({ tokens: out, bos, prompt }));
await context.dispose();
await model.dispose();
await llama.dispose();
