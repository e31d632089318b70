// hftokenize.mjs tokenizes texts with Hugging Face's tokenizers as ported to
// JavaScript (npm @lenml/tokenizers@3.7.2, a fork of transformers.js; no
// native code), the independent oracle for Shear's tokenizer.json reader:
//
//	node hftokenize.mjs DIR TEXTS.json  →  {"ids": [[…], …], "nfc": [true, …]}
//
// DIR holds tokenizer.json and tokenizer_config.json; TEXTS.json is a JSON
// array of strings. No special tokens are added (add_special_tokens false),
// as Shear's Encode and llama.cpp's tokenize without add_special. nfc says
// whether each text is already in Unicode NFC.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, textsPath] = process.argv.slice(2);
if (!dir || !textsPath) {
    console.error("usage: node hftokenize.mjs DIR TEXTS.json");
    process.exit(2);
}
const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")),
});
const texts = JSON.parse(readFileSync(textsPath, "utf8"));
const ids = texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: false })));
const nfc = texts.map((t) => t.normalize("NFC") === t);
process.stdout.write(JSON.stringify({ ids, nfc }));
