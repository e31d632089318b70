// Package eval scores models by the protocols of docs/EVALUATION.md:
// perplexity over fixed chunks and lm-eval-style multiple choice.
package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/simd"
)

// PPLResult is the outcome of Perplexity.
type PPLResult struct {
	PPL    float64 `json:"ppl"`
	NLL    float64 `json:"nll"` // mean negative log-likelihood per scored token
	Scored int     `json:"tokens_scored"`
	Chunks int     `json:"chunks"`
}

// Perplexity cuts tokens (the file's tokenization, without BOS) into
// chunks, drops a final partial chunk, and scores ctx−1 tokens of each
// given their prefix: a model that starts its inputs with BOS (AddBOS,
// docs/REFERENCE.md) gets chunks of ctx−1 tokens after a BOS, every token
// scored; one that does not (Qwen) chunks of ctx tokens, the first only
// context. chunks > 0 limits the number of chunks. progress, if set, is
// called after each chunk.
func Perplexity(m *model.Model, tokens []int, ctx, chunks int, progress func(done, total int)) (PPLResult, error) {
	if ctx < 2 {
		return PPLResult{}, fmt.Errorf("eval: context %d is too small (need ≥ 2)", ctx)
	}
	bos := m.Tok.AddBOS()
	per := ctx // text tokens per chunk
	if bos {
		per = ctx - 1
	}
	total := len(tokens) / per
	if chunks > 0 && chunks < total {
		total = chunks
	}
	if total == 0 {
		return PPLResult{}, fmt.Errorf("eval: %d tokens are fewer than one chunk of %d", len(tokens), per)
	}
	st, err := m.NewBoundedState(ctx, ctx, 0)
	if err != nil {
		return PPLResult{}, fmt.Errorf("eval: %w", err)
	}
	input := make([]int, ctx-1)
	var nll float64
	for c := 0; c < total; c++ {
		chunk := tokens[c*per : (c+1)*per]
		// Position i of the input predicts targets[i].
		targets := chunk[1:]
		if bos {
			input[0], targets = m.Tok.BOS(), chunk
			copy(input[1:], chunk[:per-1])
		} else {
			copy(input, chunk[:per-1])
		}
		var err error
		if nll, _, err = SequenceNLL(st, input, targets, nll); err != nil {
			return PPLResult{}, err
		}
		if progress != nil {
			progress(c+1, total)
		}
	}
	n := total * (ctx - 1)
	mean := nll / float64(n)
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		// Finite weights can still overflow in the forward pass.
		return PPLResult{}, fmt.Errorf("eval: the model's log-probabilities are not finite (mean NLL %v): its weights overflow in the forward pass", mean)
	}
	return PPLResult{PPL: simd.Exp64(mean), NLL: mean, Scored: n, Chunks: total}, nil
}

// SequenceNLL runs input from an empty cache and subtracts from acc the
// log-probability of every target ≥ 0 (targets[i] is what position i
// predicts; −1 is not scored). It returns the new sum and the number of
// tokens scored. This is the one mean-loss loop of inference: Perplexity
// and the knowledge analysis's loss (prune.Loss) both add up through it,
// token by token in order, so their sums have the same bits.
func SequenceNLL(st *model.State, input, targets []int, acc float64) (float64, int, error) {
	if len(targets) > len(input) {
		return acc, 0, fmt.Errorf("eval: %d targets for %d input tokens", len(targets), len(input))
	}
	st.Reset()
	logits, err := st.Forward(input, true)
	if err != nil {
		return acc, 0, err
	}
	acc, n := AddNLL(acc, logits, len(logits)/len(input), targets)
	return acc, n, nil
}

// AddNLL adds to acc −log p(target) of every row of logits (rows of vocab
// values) whose target is ≥ 0, in order, and returns the sum and the
// number of targets scored: the one sum behind every mean loss
// (SequenceNLL here, train.Evaluate over the trainer's logits).
func AddNLL(acc float64, logits []float32, vocab int, targets []int) (float64, int) {
	n := 0
	for i, t := range targets {
		if t >= 0 {
			acc -= LogProb(logits[i*vocab:(i+1)*vocab], t)
			n++
		}
	}
	return acc, n
}

// LogProb is log softmax(logits)[t], computed in float64 (with simd's
// portable Exp64 and Log64, so that every platform and the wasm guest give
// the same bits).
func LogProb(logits []float32, t int) float64 {
	maxv := float64(logits[0])
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += simd.Exp64(float64(v) - maxv)
	}
	return float64(logits[t]) - maxv - simd.Log64(sum)
}

// MCItem is one multiple-choice question. Choices carry their leading space.
type MCItem struct {
	Context string   `json:"context"`
	Choices []string `json:"choices"`
	Gold    int      `json:"gold"`
}

// MCResult is the outcome of MultipleChoice.
type MCResult struct {
	N       int     `json:"n"`
	Acc     float64 `json:"acc"`
	AccNorm float64 `json:"acc_norm"`
}

// ReadMC reads a JSONL file of MCItem, checking every line.
func ReadMC(path string) ([]MCItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []MCItem
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var it MCItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if len(it.Choices) < 2 || it.Gold < 0 || it.Gold >= len(it.Choices) {
			return nil, fmt.Errorf("%s:%d: need ≥ 2 choices and gold in range (have %d choices, gold %d)", path, line, len(it.Choices), it.Gold)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no items", path)
	}
	return items, nil
}

// ChoiceScores returns, for each choice, the summed log-probability of its
// continuation tokens: whole = [BOS] + tok(context + choice) ([BOS] only
// for a model that starts its inputs with it), continuation = the tokens
// after those of [BOS] + tok(context). The context is run once and its
// cache shared by the choices whose tokens start with it.
func ChoiceScores(st *model.State, m *model.Model, it MCItem) ([]float64, error) {
	var lead []int
	if m.Tok.AddBOS() {
		lead = []int{m.Tok.BOS()}
	}
	prefix := slices.Concat(lead, m.Tok.Encode(it.Context))
	start := len(prefix) // index of the first continuation token
	if start == 0 {
		return nil, fmt.Errorf("eval: the context is empty and the model starts its input with no BOS token: the first token of a choice has nothing to be predicted from")
	}
	shared := start - 1 // tokens whose cache every matching choice reuses
	st.Reset()
	if shared > 0 {
		if shared >= st.Ctx() {
			return nil, fmt.Errorf("eval: context of %d tokens exceeds the context size %d", shared, st.Ctx())
		}
		if _, err := st.Forward(prefix[:shared], false); err != nil {
			return nil, err
		}
	}
	scores := make([]float64, len(it.Choices))
	for c, choice := range it.Choices {
		whole := slices.Concat(lead, m.Tok.Encode(it.Context+choice))
		if start >= len(whole) {
			return nil, fmt.Errorf("eval: choice %q adds no tokens to its context", choice)
		}
		if len(whole) > st.Ctx() {
			return nil, fmt.Errorf("eval: item of %d tokens exceeds the context size %d", len(whole), st.Ctx())
		}
		from := 0 // first position to run
		if slices.Equal(whole[:shared], prefix[:shared]) {
			from = shared
		}
		st.Truncate(from)
		logits, err := st.Forward(whole[from:len(whole)-1], true)
		if err != nil {
			return nil, err
		}
		for i := start; i < len(whole); i++ {
			row := i - 1 - from
			scores[c] += LogProb(logits[row*m.Vocab:(row+1)*m.Vocab], whole[i])
		}
		if from == 0 && shared > 0 {
			// The cache now holds this choice's tokens; rebuild the shared prefix.
			st.Reset()
			if _, err := st.Forward(prefix[:shared], false); err != nil {
				return nil, err
			}
		}
	}
	return scores, nil
}

// Picks returns the choices acc and acc_norm pick from an item's scores:
// the argmax of the score, and of score / len(choice in bytes).
func Picks(it MCItem, scores []float64) (best, bestNorm int) {
	for c := range scores {
		if scores[c] > scores[best] {
			best = c
		}
		if scores[c]/float64(len(it.Choices[c])) > scores[bestNorm]/float64(len(it.Choices[bestNorm])) {
			bestNorm = c
		}
	}
	return best, bestNorm
}

// MCScores is the outcome of MultipleChoice with every choice's summed
// log-probability.
type MCScores struct {
	MCResult
	Scores [][]float64 `json:"scores"`
}

// MultipleChoice scores every item (ChoiceScores) in one state of window
// tokens, bounded by the model's context length (a larger window, or 0,
// becomes that length: an item longer than it is an error naming the
// item). acc takes the argmax of the scores, acc_norm the argmax of
// score / len(choice in bytes). Cancelling ctx stops between items with
// ctx's error; progress (optional) sees every item.
func MultipleChoice(ctx context.Context, m *model.Model, items []MCItem, window int, progress func(done, total int)) (MCScores, error) {
	if window <= 0 || (m.CtxLen > 0 && window > m.CtxLen) {
		window = m.CtxLen
	}
	st, err := m.NewBoundedState(window, window, 0)
	if err != nil {
		return MCScores{}, fmt.Errorf("eval: %w", err)
	}
	res := MCScores{Scores: make([][]float64, len(items))}
	var acc, accNorm int
	for n, it := range items {
		if err := ctx.Err(); err != nil {
			return MCScores{}, err
		}
		scores, err := ChoiceScores(st, m, it)
		if err != nil {
			return MCScores{}, fmt.Errorf("item %d: %w", n, err)
		}
		res.Scores[n] = scores
		best, bestNorm := Picks(it, scores)
		if best == it.Gold {
			acc++
		}
		if bestNorm == it.Gold {
			accNorm++
		}
		if progress != nil {
			progress(n+1, len(items))
		}
	}
	N := float64(len(items))
	res.MCResult = MCResult{N: len(items), Acc: float64(acc) / N, AccNorm: float64(accNorm) / N}
	return res, nil
}
