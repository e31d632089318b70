// Command defaultmodel builds Shear's embedded default model (make
// default-model): it prepares the Jane Austen text, trains a BPE
// vocabulary, trains a small LLaMA from scratch with Shear's own trainer,
// and writes everything under assets/. See docs/DEFAULT_MODEL.md.
//
//	go run ./tools/defaultmodel -src ../shared/data/public-domain -out assets
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
	"github.com/shear-ai/shear/runtime/tokenizer/bpe"
	"github.com/shear-ai/shear/runtime/train"
)

// The novels, in training order; persuasion's last tenth is held out.
var novels = []string{"emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility"}

const heldOutNovel = "persuasion"

func main() {
	src := flag.String("src", "../shared/data/public-domain", "directory with the Austen .txt files")
	out := flag.String("out", "assets", "assets directory to write")
	vocab := flag.Int("vocab", 1024, "vocabulary size")
	dim := flag.Int("dim", 128, "model width")
	hidden := flag.Int("hidden", 384, "feed-forward width")
	layers := flag.Int("layers", 5, "layers")
	heads := flag.Int("heads", 8, "query heads")
	kvHeads := flag.Int("kv-heads", 4, "key/value heads")
	ctxLen := flag.Int("ctx", 256, "training context")
	batch := flag.Int("batch", 8, "sequences per step")
	steps := flag.Int("steps", 1200, "optimizer steps")
	lr := flag.Float64("lr", 2e-3, "peak learning rate")
	seed := flag.Uint64("seed", 1, "random seed (weights, data order)")
	dataOnly := flag.Bool("data-only", false, "only prepare the text and the vocabulary")
	from := flag.String("finish", "", "skip training: store, measure and sample this trained model instead")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("defaultmodel: ")

	// 1. Text: reflow paragraphs, hold out the end of Persuasion.
	dataDir := filepath.Join(*out, "data")
	trainDir := filepath.Join(dataDir, "train")
	must(os.MkdirAll(trainDir, 0o755))
	var trainTexts []string
	var heldOut string
	for _, name := range novels {
		raw, err := os.ReadFile(filepath.Join(*src, name+".txt"))
		must(err)
		paras := Reflow(string(raw))
		if name == heldOutNovel {
			cut := HeldOutCut(paras, 0.1)
			heldOut = strings.Join(paras[cut:], "\n\n") + "\n"
			paras = paras[:cut]
		}
		text := strings.Join(paras, "\n\n") + "\n"
		trainTexts = append(trainTexts, text)
		must(os.WriteFile(filepath.Join(trainDir, name+".txt"), []byte(text), 0o644))
	}
	must(os.WriteFile(filepath.Join(dataDir, "heldout.txt"), []byte(heldOut), 0o644))
	inst := Instructions(trainTexts, 400)
	var jl strings.Builder
	for _, in := range inst {
		b, _ := json.Marshal(in)
		jl.Write(b)
		jl.WriteByte('\n')
	}
	must(os.WriteFile(filepath.Join(dataDir, "instruct.jsonl"), []byte(jl.String()), 0o644))
	log.Printf("text: %d training bytes, %d held-out bytes, %d instructions", totalLen(trainTexts), len(heldOut), len(inst))

	// 2. Vocabulary.
	t0 := time.Now()
	res, err := bpe.Train(trainTexts, bpe.Options{VocabSize: *vocab})
	must(err)
	tok, err := tokenizer.New(res.Vocab)
	must(err)
	vocabPath := filepath.Join(*out, "vocab.gguf")
	must(bpe.GGUF(res.Vocab).WriteFile(vocabPath))
	nTok := 0
	for _, t := range trainTexts {
		nTok += len(tok.Encode(t))
	}
	log.Printf("vocabulary: %d tokens (%d characters, %d merges) in %.1fs; training text %d tokens (%.2f bytes/token)",
		len(res.Vocab.Tokens), res.Chars, res.Merges, time.Since(t0).Seconds(), nTok, float64(totalLen(trainTexts))/float64(nTok))
	if *dataOnly {
		return
	}

	summary := map[string]any{}
	if b, err := os.ReadFile(filepath.Join(*out, "default.json")); err == nil && *from != "" {
		json.Unmarshal(b, &summary) // keep the training figures of the run being finished
	}
	var m *model.Model
	if *from != "" {
		m, err = model.Load(*from, model.LoadOptions{DType: tensor.F32})
		must(err)
	} else {
		m = trainModel(tok, trainTexts, summary, *dim, *hidden, *layers, *heads, *kvHeads, *ctxLen, *batch, *steps, *lr, *seed)
	}

	// 4. Store as f16 with the vocabulary's metadata in file order (so the
	// bytes are reproducible), reload, measure and sample.
	vf, err := gguf.Open(vocabPath)
	must(err)
	m.Meta = []gguf.KV{
		{Key: "general.name", Type: gguf.TypeString, Value: "shear-austen"},
		{Key: "general.description", Type: gguf.TypeString, Value: "Shear's embedded default model: a small LLaMA trained from scratch on Jane Austen (docs/DEFAULT_MODEL.md)"},
	}
	for _, kv := range vf.KV {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			m.Meta = append(m.Meta, kv)
		}
	}
	path := filepath.Join(*out, "default.gguf")
	must(m.Convert(tensor.F16))
	must(m.Save(path))
	m, err = model.Load(path, model.LoadOptions{DType: tensor.F16})
	must(err)
	ppl, err := eval.Perplexity(m, m.Tok.Encode(heldOut), 256, 0, nil)
	must(err)
	text := Sample(m, "It was a truth", 64, 0.8, 0.9, 1)
	st, err := os.Stat(path)
	must(err)
	for k, v := range map[string]any{"params": m.Params(), "vocab": tok.Size(), "bytes": st.Size(), "train_tokens": nTok,
		"heldout_ppl": ppl.PPL, "heldout_tokens": ppl.Scored, "sample": text} {
		summary[k] = v
	}
	js, _ := json.MarshalIndent(summary, "", "  ")
	must(os.WriteFile(filepath.Join(*out, "default.json"), append(js, '\n'), 0o644))
	fmt.Println(string(js))
}

// trainModel trains the model from scratch on all of the training text
// (2% of the sequences are a dev set for the loss log) and records the
// run in summary.
func trainModel(tok *tokenizer.Tokenizer, trainTexts []string, summary map[string]any,
	dim, hidden, layers, heads, kvHeads, ctxLen, batch, steps int, lr float64, seed uint64) *model.Model {
	c := model.UniformConfig(dim, hidden, layers, heads, kvHeads, tok.Size(), ctxLen)
	m, err := model.NewRandom(c, tensor.F32, seed)
	must(err)
	m.Tok = tok
	var all []train.Example
	for _, t := range trainTexts {
		all = append(all, train.PackText(tok, t, ctxLen)...)
	}
	trainEx, devEx := train.Split(all, 0.02, seed)
	tr, err := train.New(m, train.Options{Full: true, Batch: batch, Ctx: ctxLen, Seed: seed})
	must(err)
	log.Printf("model: dim %d, hidden %d, layers %d, heads %d/%d, vocab %d: %d parameters; %d training, %d dev sequences; %d steps of %d tokens",
		dim, hidden, layers, heads, kvHeads, tok.Size(), m.Params(), len(trainEx), len(devEx), steps, batch*ctxLen)
	cfg := train.Config{Steps: steps, Sched: train.Schedule{LR: lr, MinLR: lr / 10, Warmup: 50}, WeightDecay: 0.01,
		ClipNorm: 1, EvalEvery: 200, DevMax: 64, Seed: seed}
	start := time.Now()
	run, err := train.Run(context.Background(), tr, trainEx, devEx, cfg, func(s train.StepInfo) {
		if s.Step%20 == 0 || s.DevLoss != 0 {
			log.Printf("step %d/%d loss %.4f lr %.2e dev %.4f %.0fs", s.Step, steps, s.Loss, s.LR, s.DevLoss, s.Seconds)
		}
	})
	must(err)
	wall := time.Since(start)
	log.Printf("trained in %s: dev loss %.4f → %.4f, %.0f tokens/s", wall.Round(time.Second), run.DevLossBefore, run.DevLossAfter, run.TokensPerS)
	for k, v := range map[string]any{"steps": steps, "tokens_per_s": run.TokensPerS, "wall_s": wall.Seconds(),
		"dev_loss_before": run.DevLossBefore, "dev_loss": run.DevLossAfter, "seed": seed} {
		summary[k] = v
	}
	return m
}

// Sample continues prompt with n tokens (temperature, top-p, seed).
func Sample(m *model.Model, prompt string, n int, temp, topP float32, seed uint64) string {
	input := append([]int{m.Tok.BOS()}, m.Tok.Encode(prompt)...)
	st := m.NewState(len(input)+n, 64)
	smp := sample.New(sample.Params{Temperature: temp, TopP: topP, Seed: seed}, m.Vocab)
	logits, err := st.Forward(input, false)
	must(err)
	var out []int
	for len(out) < n {
		t := smp.Sample(logits)
		if t == m.Tok.EOS() {
			break
		}
		out = append(out, t)
		if logits, err = st.Forward([]int{t}, false); err != nil {
			must(err)
		}
	}
	return prompt + m.Tok.Decode(out)
}

func totalLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
