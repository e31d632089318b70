package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// Example is one training sequence: Tokens are the inputs and Targets the
// next-token labels at each position (negative: not scored). Both have
// the same length, at most the context.
type Example struct {
	Tokens  []int `json:"tokens"`
	Targets []int `json:"targets"`
}

// TextFiles lists the text files a --data path names: the file itself, or
// every regular file under a directory, sorted by path.
func TextFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no text files", path)
	}
	sort.Strings(files)
	return files, nil
}

// PackText tokenizes text (with EOS last if the model adds it) and cuts
// it into chunks of ctx tokens. Each example is the chunk after BOS for a
// model that starts its inputs with BOS (inputs [BOS, t0 … t(ctx−2)],
// targets [t0 … t(ctx−1)]), else the chunk alone (inputs [t0 … t(ctx−2)],
// targets [t1 … t(ctx−1)]). A final partial chunk is kept when it has at
// least ctx/4 and two tokens.
func PackText(tok *tokenizer.Tokenizer, text string, ctx int) []Example {
	ids := tok.Encode(text)
	if tok.AddEOS() {
		ids = append(ids, tok.EOS())
	}
	var out []Example
	for start := 0; start < len(ids); start += ctx {
		chunk := ids[start:min(start+ctx, len(ids))]
		seq := chunk
		if tok.AddBOS() {
			seq = slices.Concat([]int{tok.BOS()}, chunk)
		}
		if len(chunk) < ctx/4 || len(chunk) < 2 {
			break
		}
		out = append(out, Example{Tokens: slices.Clone(seq[:len(seq)-1]), Targets: slices.Clone(seq[1:])})
	}
	return out
}

// LoadText packs every file of a --data path (see TextFiles, PackText).
func LoadText(tok *tokenizer.Tokenizer, path string, ctx int) ([]Example, error) {
	files, err := TextFiles(path)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, f := range files {
		b, err := safefile.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, PackText(tok, string(b), ctx)...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: too little text for one sequence of %d tokens", path, ctx)
	}
	return out, nil
}

// Instruction is one Alpaca-style record.
type Instruction struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
}

// Prompt renders the instruction template (the response follows it):
//
//	### Instruction:
//	{instruction}
//
//	### Input:        (only when input is not empty)
//	{input}
//
//	### Response:
func (in Instruction) Prompt() string {
	var b strings.Builder
	b.WriteString("### Instruction:\n")
	b.WriteString(in.Instruction)
	if in.Input != "" {
		b.WriteString("\n\n### Input:\n")
		b.WriteString(in.Input)
	}
	b.WriteString("\n\n### Response:\n")
	return b.String()
}

// ReadInstructions reads an Alpaca JSONL file.
func ReadInstructions(path string) ([]Instruction, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Instruction
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var in Instruction
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if in.Instruction == "" || in.Output == "" {
			return nil, fmt.Errorf("%s:%d: instruction and output must not be empty", path, line)
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no instructions", path)
	}
	return out, nil
}

// InstructionExample tokenizes [BOS] + prompt + output + [EOS] (BOS only
// for a model that starts its inputs with it, EOS where the vocabulary has
// one) and scores only the response tokens and EOS. Sequences longer than
// ctx are cut; ok is false when no response token survives the cut.
func InstructionExample(tok *tokenizer.Tokenizer, in Instruction, ctx int) (Example, bool) {
	prompt := tok.Encode(in.Prompt())
	whole := tok.Encode(in.Prompt() + in.Output)
	// The response starts where the prompt's own tokenization stops agreeing.
	boundary := 0
	for boundary < len(prompt) && boundary < len(whole) && prompt[boundary] == whole[boundary] {
		boundary++
	}
	var seq []int
	lead := 0 // tokens before whole
	if tok.AddBOS() {
		seq, lead = []int{tok.BOS()}, 1
	}
	seq = append(seq, whole...)
	if tok.EOS() >= 0 {
		seq = append(seq, tok.EOS())
	}
	if len(seq)-1 > ctx {
		seq = seq[:ctx+1]
	}
	if len(seq) < 2 {
		return Example{}, false
	}
	ex := Example{Tokens: seq[:len(seq)-1], Targets: append([]int(nil), seq[1:]...)}
	scored := 0
	for i := range ex.Targets {
		if i+1-lead < boundary { // target i is whole[i+1-lead]: a prompt token
			ex.Targets[i] = -1
		} else {
			scored++
		}
	}
	return ex, scored > 0
}

// LoadInstructions reads and tokenizes a JSONL file.
func LoadInstructions(tok *tokenizer.Tokenizer, path string, ctx int) ([]Example, error) {
	ins, err := ReadInstructions(path)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, in := range ins {
		if ex, ok := InstructionExample(tok, in, ctx); ok {
			out = append(out, ex)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no instruction fits the context of %d tokens", path, ctx)
	}
	return out, nil
}

// Split shuffles examples by seed and holds out a fraction for dev (at
// least one example each side when there are two or more).
func Split(examples []Example, devFrac float64, seed uint64) (train, dev []Example) {
	ex := append([]Example(nil), examples...)
	rng := rand.New(rand.NewPCG(seed, 0x5711))
	rng.Shuffle(len(ex), func(i, j int) { ex[i], ex[j] = ex[j], ex[i] })
	nDev := int(float64(len(ex)) * devFrac)
	if devFrac > 0 && nDev == 0 && len(ex) > 1 {
		nDev = 1
	}
	return ex[nDev:], ex[:nDev]
}

// Loader hands out micro-batches of B examples padded to T positions, in
// a fresh seeded permutation each epoch. Its position is part of a
// checkpoint.
type Loader struct {
	Examples []Example
	B, T     int
	Seed     uint64
	Epoch    int
	Pos      int // index into the epoch's permutation
	perm     []int
	permFor  int
}

// Next fills tokens and targets (len B×T) with the next micro-batch.
func (l *Loader) Next(tokens, targets []int) {
	for b := 0; b < l.B; b++ {
		if l.perm == nil || l.permFor != l.Epoch {
			l.perm = rand.New(rand.NewPCG(l.Seed, uint64(l.Epoch))).Perm(len(l.Examples))
			l.permFor = l.Epoch
		}
		ex := l.Examples[l.perm[l.Pos]]
		l.Pos++
		if l.Pos == len(l.perm) {
			l.Pos, l.Epoch = 0, l.Epoch+1
		}
		fillRow(tokens[b*l.T:(b+1)*l.T], targets[b*l.T:(b+1)*l.T], ex)
	}
}

// State and SetState save and restore the loader's position.
func (l *Loader) State() ([]byte, error) { return json.Marshal([2]int{l.Epoch, l.Pos}) }

func (l *Loader) SetState(b []byte) error {
	var s [2]int
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	l.Epoch, l.Pos = s[0], s[1]
	return nil
}

// fillRow copies an example into a row, padding with token 0 and
// unscored targets.
func fillRow(tokens, targets []int, ex Example) {
	n := copy(tokens, ex.Tokens)
	copy(targets, ex.Targets[:n])
	for i := n; i < len(tokens); i++ {
		tokens[i], targets[i] = 0, -1
	}
}

// Batches cuts examples into padded micro-batches in order (for
// evaluation); the last batch is padded with unscored rows.
func Batches(examples []Example, B, T int) (tokens, targets [][]int) {
	for start := 0; start < len(examples); start += B {
		tk, tg := make([]int, B*T), make([]int, B*T)
		for b := 0; b < B; b++ {
			if start+b < len(examples) {
				fillRow(tk[b*T:(b+1)*T], tg[b*T:(b+1)*T], examples[start+b])
			} else {
				fillRow(tk[b*T:(b+1)*T], tg[b*T:(b+1)*T], Example{})
			}
		}
		tokens, targets = append(tokens, tk), append(targets, tg)
	}
	return tokens, targets
}
