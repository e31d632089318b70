package prune

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/shear-ai/shear/internal/valid"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tokenizer"
	"github.com/shear-ai/shear/runtime/train"
	"github.com/shear-ai/shear/simd"
)

// Subset is one named part of the pretraining-style data (§5).
type Subset struct {
	Name     string
	Examples []train.Example
}

// TextSubsets cuts a --data path into subsets. A directory gives one
// subset per file. A single file is split by this deterministic rule: its
// paragraphs (separated by blank lines) are sorted into k buckets by
// length in tokens — the shortest k-th of the paragraphs form "len-1", the
// next "len-2", and so on — so subsets differ in kind (short simple
// stories vs long ones) rather than being random halves of one
// distribution. Each subset's text is then packed into ctx-token sequences.
func TextSubsets(tok *tokenizer.Tokenizer, path string, ctx, k int) ([]Subset, error) {
	files, err := train.TextFiles(path)
	if err != nil {
		return nil, err
	}
	var out []Subset
	if len(files) > 1 {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			ex := train.PackText(tok, string(b), ctx)
			if len(ex) > 0 {
				out = append(out, Subset{Name: filepath.Base(f), Examples: ex})
			}
		}
	} else {
		b, err := os.ReadFile(files[0])
		if err != nil {
			return nil, err
		}
		out = SplitByLength(tok, string(b), ctx, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: too little text for any subset", path)
	}
	return out, nil
}

// SplitByLength is the single-file rule of TextSubsets.
func SplitByLength(tok *tokenizer.Tokenizer, text string, ctx, k int) []Subset {
	paras := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n")
	type para struct {
		text string
		n    int
		idx  int
	}
	var ps []para
	for i, p := range paras {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, para{p, len(tok.Encode(p)), i})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
	k = max(1, min(k, len(ps)))
	var out []Subset
	for b := 0; b < k; b++ {
		part := ps[b*len(ps)/k : (b+1)*len(ps)/k]
		sort.Slice(part, func(i, j int) bool { return part[i].idx < part[j].idx }) // keep the file's order inside
		var sb strings.Builder
		for _, p := range part {
			sb.WriteString(p.text)
			sb.WriteString("\n\n")
		}
		if ex := train.PackText(tok, sb.String(), ctx); len(ex) > 0 {
			out = append(out, Subset{Name: fmt.Sprintf("len-%d", b+1), Examples: ex})
		}
	}
	return out
}

// RecoverOptions configure dynamic knowledge recovery.
type RecoverOptions struct {
	Stage1Steps int `json:"stage1_steps"` // pretraining-style subsets (--recover-steps)
	Stage2Steps int `json:"stage2_steps"` // instructions (--instruct-steps)
	train.Optim
	Stage2LR      float64     `json:"stage2_lr,omitempty"` // peak learning rate of stage 2 (0: LR)
	LoRA          lora.Config `json:"lora"`
	Uniform       bool        `json:"uniform,omitempty"` // fixed equal subset weights (the comparison)
	EstimateEvery int         `json:"estimate_every"`    // re-estimate δ_i every N steps
	Eta           float64     `json:"eta"`               // w_i ← w_i·exp(η·max(δ_i, 0))
	SampleSeqs    int         `json:"sample_seqs"`       // sequences per subset for δ_i
	EvalEvery     int         `json:"eval_every"`        // early stopping on the dev split…
	Patience      int         `json:"patience"`          // …after this many evaluations without improvement
	DevFrac       float64     `json:"dev_frac"`
	// Dev, when set, is stage 1's dev set (held-out text such as the
	// validation split) in place of DevFrac of every subset.
	Dev []train.Example `json:"-"`
	// Checkpointing: Checkpoint is a prefix (the stages' files get
	// .stage1/.stage2), written every CheckpointEvery steps (0: at every
	// re-estimation, EstimateEvery).
	train.Checkpointing
	// Full trains every weight of the pruned model instead of a LoRA.
	Full bool `json:"full"`
	// Distillation > 0 distills the dense model into the pruned one in
	// both stages.
	train.Distillation
	// Memory is the budget in bytes (0: none): full-rank recovery that
	// would not fit falls back to LoRA, and a recovery that fits neither
	// way fails before it allocates.
	Memory int64 `json:"memory,omitempty"`
}

// Validate checks every option's range (options are named by their CLI
// flags) before a stage runs.
func (o RecoverOptions) Validate() error {
	return valid.First(
		valid.Int("--recover-steps", o.Stage1Steps, 0, 1<<24),
		valid.Int("--instruct-steps", o.Stage2Steps, 0, 1<<24),
		o.Optim.Check(train.MaxCtx),
		valid.Float("--instruct-lr", o.Stage2LR, valid.NonNegative),
		valid.Int("--estimate-every", o.EstimateEvery, 1, 1<<24),
		valid.Float("--eta", o.Eta, valid.NonNegative),
		valid.Int("sample_seqs", o.SampleSeqs, 1, 1<<16),
		valid.Int("eval_every", o.EvalEvery, 0, 1<<24),
		valid.Int("patience", o.Patience, 0, 1<<24),
		valid.Float("dev_frac", o.DevFrac, valid.HalfOpenUnit),
		o.Distillation.Check("--distill"),
		valid.Int("checkpoint_every", o.CheckpointEvery, 0, 1<<24),
		o.loraValid(),
	)
}

func (o RecoverOptions) loraValid() error {
	if o.Full {
		return nil // no adapter
	}
	return o.LoRA.Validate()
}

// DefaultRecover returns the defaults of `shear recover`: full-rank
// recovery with the dense model distilled in (λ 0.5, τ 1) at a peak rate
// of 1e-3, and a tenth of that rate for the instruction stage (at the full
// rate it undid much of stage 1 on held-out text). docs/RESULTS.md
// measures these against the paper's LoRA recovery.
func DefaultRecover() RecoverOptions {
	return RecoverOptions{Stage1Steps: 100, Stage2Steps: 30, Optim: train.Optim{Batch: 8, Ctx: 128, LR: 1e-3, Clip: 1, Seed: 1},
		Stage2LR: 1e-4, LoRA: lora.DefaultConfig(), EstimateEvery: 25, Eta: 3, SampleSeqs: 4, EvalEvery: 25, Patience: 4, DevFrac: 0.05,
		Full: true, Distillation: train.Distillation{Distill: 0.5, DistillTemp: 1}}
}

// LoRARecover returns the recovery of the paper (and of docs/RESULTS.md's
// main table): a fresh LoRA, no distillation, one peak rate of 2e-3 for
// both stages.
func LoRARecover() RecoverOptions {
	o := DefaultRecover()
	o.Full, o.Distill, o.LR, o.Stage2LR = false, 0, 2e-3, 0
	return o
}

// RecoverReport records a recovery run.
type RecoverReport struct {
	Full        bool               `json:"full"`    // every weight trained (else a LoRA)
	Memory      *MemoryPlan        `json:"memory"`  // the estimate, the budget and why Full is what it is
	Distill     float64            `json:"distill"` // λ of the distillation (0: none)
	DistillTemp float64            `json:"distill_temp,omitempty"`
	Subsets     []string           `json:"subsets"`
	DenseLoss   []float64          `json:"dense_loss"`   // per subset, on its sample
	WeightSteps []int              `json:"weight_steps"` // steps at which weights were (re)estimated
	Weights     [][]float64        `json:"weights"`      // subset weights over time
	Deltas      [][]float64        `json:"deltas"`       // δ_i = L_pruned − L_dense over time
	Stage1      train.Result       `json:"stage1"`
	Stage2      *train.Result      `json:"stage2,omitempty"`
	Seconds     map[string]float64 `json:"seconds"`
	Log1, Log2  []train.StepInfo   `json:"-"`
}

// weightedSource samples each row of a micro-batch from subset i with
// probability w_i, walking each subset in its own shuffled order.
type weightedSource struct {
	loaders []*train.Loader
	weights []float64
	pcg     *rand.PCG
	rng     *rand.Rand
	B, T    int
	one     [2][]int
}

func newWeightedSource(subs []Subset, B, T int, seed uint64) *weightedSource {
	s := &weightedSource{B: B, T: T, pcg: rand.NewPCG(seed, 0x5b5e7)}
	s.rng = rand.New(s.pcg)
	for i, sub := range subs {
		s.loaders = append(s.loaders, &train.Loader{Examples: sub.Examples, B: 1, T: T, Seed: seed + uint64(i)*7919})
		s.weights = append(s.weights, 1/float64(len(subs)))
	}
	s.one = [2][]int{make([]int, T), make([]int, T)}
	return s
}

func (s *weightedSource) Next(tokens, targets []int) {
	for b := 0; b < s.B; b++ {
		r := s.rng.Float64()
		i := 0
		for ; i < len(s.weights)-1; i++ {
			if r < s.weights[i] {
				break
			}
			r -= s.weights[i]
		}
		s.loaders[i].Next(tokens[b*s.T:(b+1)*s.T], targets[b*s.T:(b+1)*s.T])
	}
}

type sourceState struct {
	Weights []float64 `json:"weights"`
	RNG     []byte    `json:"rng"`
	Loaders [][]byte  `json:"loaders"`
}

func (s *weightedSource) State() ([]byte, error) {
	st := sourceState{Weights: s.weights}
	var err error
	if st.RNG, err = s.pcg.MarshalBinary(); err != nil {
		return nil, err
	}
	for _, l := range s.loaders {
		b, err := l.State()
		if err != nil {
			return nil, err
		}
		st.Loaders = append(st.Loaders, b)
	}
	return json.Marshal(st)
}

func (s *weightedSource) SetState(b []byte) error {
	var st sourceState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if len(st.Weights) != len(s.weights) || len(st.Loaders) != len(s.loaders) {
		return fmt.Errorf("checkpoint has %d subsets, this run %d", len(st.Weights), len(s.weights))
	}
	copy(s.weights, st.Weights)
	for i, l := range s.loaders {
		if err := l.SetState(st.Loaders[i]); err != nil {
			return err
		}
	}
	return s.pcg.UnmarshalBinary(st.RNG)
}

// Recover runs §5 on pruned (float32 or float16 weights; a fresh LoRA is
// trained and merged into it at the end): stage 1 on the subsets with
// weights driven by δ_i = L_pruned(S_i) − L_dense(S_i), re-estimated every
// EstimateEvery steps (w_i ∝ w_i·exp(η·max(δ_i, 0)), as Sheared-LLaMA's
// dynamic batch loading), then stage 2 on instructions; early stopping on
// dev splits of each stage's data.
func Recover(ctx context.Context, pruned, dense *model.Model, subsets []Subset, instruct []train.Example, opt RecoverOptions, onStep func(stage string, s train.StepInfo)) (*RecoverReport, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if len(subsets) == 0 && opt.Stage1Steps > 0 {
		return nil, fmt.Errorf("recover: stage 1 needs pretraining-style data (--data)")
	}
	if len(instruct) == 0 && opt.Stage2Steps > 0 {
		return nil, fmt.Errorf("recover: stage 2 needs instruction data (--instruct)")
	}
	plan, err := planRecovery(pruned, dense, opt)
	if err != nil {
		return nil, err
	}
	releaseMemory() // what pruning left, before the trainer is allocated
	opt.Full = plan.Mode == "full-rank"
	rep := &RecoverReport{Seconds: map[string]float64{}, Full: opt.Full, Distill: opt.Distill, Memory: plan}
	if opt.Distill > 0 {
		rep.DistillTemp = opt.DistillTemp
	}
	tr, err := train.New(pruned, train.Options{Full: opt.Full, LoRA: opt.LoRA, Batch: opt.Batch, Ctx: opt.Ctx, Seed: opt.Seed})
	if err != nil {
		return nil, err
	}
	if opt.Distill > 0 {
		teacher, err := train.New(dense, train.Options{Frozen: true, Batch: opt.Batch, Ctx: opt.Ctx})
		if err != nil {
			return nil, err
		}
		if err := tr.SetTeacher(teacher, opt.Distill, opt.DistillTemp); err != nil {
			return nil, err
		}
	}
	every := opt.CheckpointEvery
	if every == 0 {
		every = max(1, opt.EstimateEvery)
	}
	base := func(steps int, ckpt string, lr float64) train.Config {
		return train.Config{Steps: steps, Sched: train.Schedule{LR: lr, MinLR: lr / 10, Warmup: min(10, steps/10)},
			ClipNorm: opt.Clip, EvalEvery: opt.EvalEvery, Patience: opt.Patience, DevMax: 64, Seed: opt.Seed,
			Checkpointing: train.Checkpointing{Checkpoint: ckpt, CheckpointEvery: every, Resume: opt.Resume}}
	}
	ckpt := func(stage string) string {
		if opt.Checkpoint == "" {
			return ""
		}
		return opt.Checkpoint + "." + stage
	}
	if opt.Stage1Steps > 0 {
		t0 := time.Now()
		// Hold out a dev split and a loss-estimation sample from every subset.
		var dev []train.Example
		samples := make([][]train.Example, len(subsets))
		trainSubs := make([]Subset, len(subsets))
		for i, s := range subsets {
			rest, d := train.Split(s.Examples, opt.DevFrac, opt.Seed+uint64(i))
			if len(opt.Dev) > 0 {
				rest, d = s.Examples, nil
			}
			dev = append(dev, d...)
			samples[i] = rest[:min(opt.SampleSeqs, len(rest))]
			trainSubs[i] = Subset{Name: s.Name, Examples: rest}
			rep.Subsets = append(rep.Subsets, s.Name)
			l, err := Loss(dense, samples[i])
			if err != nil {
				return nil, err
			}
			rep.DenseLoss = append(rep.DenseLoss, l)
		}
		if len(opt.Dev) > 0 {
			dev = opt.Dev
		}
		src := newWeightedSource(trainSubs, tr.B, tr.T, opt.Seed)
		estimate := func(step int) error {
			deltas := make([]float64, len(subsets))
			for i := range subsets {
				l, err := train.Evaluate(tr, samples[i])
				if err != nil {
					return err
				}
				deltas[i] = l - rep.DenseLoss[i]
			}
			if !opt.Uniform {
				var sum float64
				for i, d := range deltas {
					src.weights[i] *= simd.Exp64(opt.Eta * math.Max(d, 0))
					sum += src.weights[i]
				}
				for i := range src.weights {
					src.weights[i] /= sum
				}
			}
			rep.WeightSteps = append(rep.WeightSteps, step)
			rep.Weights = append(rep.Weights, append([]float64(nil), src.weights...))
			rep.Deltas = append(rep.Deltas, deltas)
			return nil
		}
		cfg := base(opt.Stage1Steps, ckpt("stage1"), opt.LR)
		cfg.Source = src
		resumed := opt.Resume && cfg.Checkpoint != "" && fileExists(cfg.Checkpoint)
		if !resumed {
			if err := estimate(0); err != nil {
				return nil, err
			}
		}
		var estErr error
		res, err := train.Run(ctx, tr, nil, dev, cfg, func(s train.StepInfo) {
			if opt.EstimateEvery > 0 && s.Step%opt.EstimateEvery == 0 && s.Step < opt.Stage1Steps && estErr == nil {
				estErr = estimate(s.Step)
			}
			if onStep != nil {
				onStep("recover-1", s)
			}
		})
		if err == nil {
			err = estErr
		}
		if err != nil {
			return rep, err
		}
		rep.Stage1, rep.Log1 = res, res.Log
		rep.Seconds["stage1"] = time.Since(t0).Seconds()
	}
	if opt.Stage2Steps > 0 {
		t0 := time.Now()
		trainEx, devEx := train.Split(instruct, opt.DevFrac, opt.Seed)
		lr := opt.LR
		if opt.Stage2LR > 0 {
			lr = opt.Stage2LR
		}
		res, err := train.Run(ctx, tr, trainEx, devEx, base(opt.Stage2Steps, ckpt("stage2"), lr), func(s train.StepInfo) {
			if onStep != nil {
				onStep("recover-2", s)
			}
		})
		if err != nil {
			return rep, err
		}
		rep.Stage2, rep.Log2 = &res, res.Log
		rep.Seconds["stage2"] = time.Since(t0).Seconds()
	}
	if tr.Adapter == nil {
		return rep, nil // full training changed pruned's weights in place
	}
	return rep, tr.Adapter.Merge(pruned)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
