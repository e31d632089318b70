package prune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// Methods are the pruning methods of the harness.
var Methods = []string{"lorashear", "taylor", "magnitude", "random", "llm-pruner", "shortgpt", "wanda-sp", "flap"}

// Options configure one pruning run. The JSON names are the wasm ABI's
// (docs/WASM.md) and match the CLI flags; Validate is the one check of
// their ranges.
type Options struct {
	Method      string             `json:"method"`
	Target      float64            `json:"target"`                 // fraction of all parameters removed
	KindTargets map[string]float64 `json:"kind_targets,omitempty"` // optional per-kind fractions
	// AllowEmpty lets the target remove every group of a kind (all
	// attention heads or all FFN channels), which is refused otherwise.
	AllowEmpty bool    `json:"allow_empty,omitempty"`
	Hidden     bool    `json:"hidden,omitempty"` // hidden channels are prunable
	Gamma      float64 `json:"gamma"`            // knowledge analysis: top-γ groups unprunable (lorashear)
	// Confirm is how many groups nearest the top-γ boundary the analysis
	// probes exactly after estimating every group (ProbeAll: all of them).
	Confirm int         `json:"confirm"`
	LHSPG   LHSPGConfig `json:"lhspg"`
	LoRA    lora.Config `json:"lora"`
	train.Optim
	// Checkpointing, when Checkpoint is set, writes a checkpoint every
	// CheckpointEvery steps of the pruning stage; with Resume an existing
	// one is continued.
	train.Checkpointing
	// Distillation > 0 distills the dense model into the one being pruned
	// during LHSPG (lorashear).
	train.Distillation
	// Memory is the budget in bytes (0: none); LoRAShear fails before it
	// allocates its trainer when the estimate exceeds it.
	Memory int64 `json:"memory,omitempty"`
}

// DefaultConfirm is the analysis's default number of exact probes: on
// the 110M shape each is a forward pass over the 1,024 calibration tokens.
const DefaultConfirm = 32

// DefaultOptions returns the defaults of `shear prune`: LoRAShear removing
// a fifth of the parameters with the LoRA, batch and rate of finetune.
func DefaultOptions() Options {
	return Options{Method: "lorashear", Target: 0.2, Gamma: 0.1, Confirm: DefaultConfirm, LHSPG: DefaultLHSPG(), LoRA: lora.DefaultConfig(),
		Optim: train.Optim{Batch: 8, Ctx: 128, LR: 1e-3, Clip: 1, Seed: 1}, Checkpointing: train.Checkpointing{CheckpointEvery: 20},
		Distillation: train.Distillation{DistillTemp: 1}}
}

// Validate checks every option's range (options are named by their CLI
// flags) before anything long runs; it is the one check of the target.
func (o Options) Validate() error {
	if o.Method == "" && o.Batch == 0 && o.Ctx == 0 {
		return errors.New("prune: the options are unset; start from prune.DefaultOptions()")
	}
	if !slices.Contains(Methods, o.Method) {
		return fmt.Errorf("--method %q: unknown method (want one of %s)", o.Method, strings.Join(Methods, ", "))
	}
	err := valid.First(
		valid.Float("--target", o.Target, valid.Fraction),
		valid.Float("--gamma", o.Gamma, valid.HalfOpenUnit),
		o.Distillation.Check("--lhspg-distill"),
	)
	if err != nil {
		return err
	}
	if o.Method == "lorashear" || o.Method == "taylor" || o.Method == "llm-pruner" { // they run the trainer
		err := valid.First(
			o.Optim.Check(train.MaxCtx),
			o.LoRA.Validate(),
		)
		if err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.KindTargets)) {
		if k != "attention" && k != "mlp" && k != "hidden" {
			return fmt.Errorf("--kind-targets: unknown kind %q (kinds: attention, mlp, hidden)", k)
		}
		if err := valid.Float("--kind-targets "+k, o.KindTargets[k], valid.HalfOpenUnit); err != nil {
			return err
		}
	}
	if o.Method == "lorashear" {
		return o.LHSPG.Validate()
	}
	return nil
}

// Data is what a run trains and calibrates on.
type Data struct {
	Train []train.Example // LoRA training during LHSPG
	Calib []train.Example // knowledge analysis and Taylor scores
}

// StepLog is one step of the pruning stage.
type StepLog struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`
	Sparsity float64 `json:"group_sparsity"` // fraction of groups exactly zero
	// ParamSparsity is the fraction of the dense model's parameters in
	// those groups (what the target counts).
	ParamSparsity float64 `json:"param_sparsity"`
	Seconds       float64 `json:"seconds"`
}

// Report summarises a pruning run.
type Report struct {
	Method        string         `json:"method"`
	Target        float64        `json:"target"`
	ParamsBefore  int            `json:"params_before"`
	ParamsAfter   int            `json:"params_after"`
	Ratio         float64        `json:"ratio"` // fraction of parameters removed
	RemovedGroups int            `json:"removed_groups"`
	RemovedByKind map[string]int `json:"removed_by_kind"`
	Heads         []int          `json:"heads"`
	KVHeads       []int          `json:"kv_heads"`
	FFN           []int          `json:"ffn"`
	Dim           int            `json:"dim"`
	// The dense model's widths, for comparison.
	DenseHeads []int              `json:"dense_heads"`
	DenseFFN   []int              `json:"dense_ffn"`
	Log        []StepLog          `json:"log,omitempty"`
	Analysis   *Analysis          `json:"analysis,omitempty"`
	Seconds    map[string]float64 `json:"seconds"`
	RemovedIDs []int              `json:"removed_ids"`
	// LHSPG (lorashear): redundant groups whose trainable part the
	// half-space projection zeroed before forgetting zeroed them, and those
	// zeroed by forgetting alone.
	ZeroedByProjection int `json:"zeroed_by_projection"`
	ZeroedByForgetting int `json:"zeroed_by_forgetting"`
	// Memory is the LHSPG stage's estimate against the budget.
	Memory *MemoryPlan `json:"memory,omitempty"`
	// llm-pruner: the blocks it pruned and the ratio of heads and FFN
	// channels it removed from each.
	PrunedLayers []int   `json:"pruned_layers,omitempty"`
	LayerRatio   float64 `json:"layer_ratio,omitempty"`
	// shortgpt: every block's influence and the blocks removed (dense
	// model's indices).
	BlockInfluence []float64 `json:"block_influence,omitempty"`
	RemovedLayers  []int     `json:"removed_layers,omitempty"`
}

// Progress reports a stage's progress.
type Progress func(stage string, done, total int, loss float64)

// Prune runs one method on m (modified in place) and returns the
// compressed model (before recovery) and a report. LoRAShear keeps the
// frozen base in its storage type (f32 or f16), and so does magnitude;
// the taylor and llm-pruner baselines read every weight's gradient and
// convert m to f32. shortgpt removes whole blocks (Report.RemovedLayers).
func Prune(ctx context.Context, m *model.Model, opt Options, data Data, progress Progress) (*model.Model, *Report, error) {
	if err := opt.Validate(); err != nil {
		return nil, nil, err
	}
	for _, r := range m.Matrices() {
		if w := *r.Mat; w.DType != tensor.F32 && w.DType != tensor.F16 {
			return nil, nil, fmt.Errorf("prune: load the model with f16 or f32 weights (%s is %s; pass --dtype f16)", r.Name, w.DType)
		}
	}
	if opt.Method == "taylor" || opt.Method == "llm-pruner" {
		if err := m.Convert(tensor.F32); err != nil {
			return nil, nil, err
		}
	}
	if progress == nil {
		progress = func(string, int, int, float64) {}
	}
	rep := &Report{Method: opt.Method, Target: opt.Target, ParamsBefore: m.Params(), Seconds: map[string]float64{}, RemovedByKind: map[string]int{}}
	g := graph.Build(m, graph.Options{Hidden: opt.Hidden, LoRARank: opt.LoRA.Rank})
	var groups []graph.Group
	switch opt.Method {
	case "lorashear":
		t0 := time.Now()
		var err error
		groups, err = runLoRAShear(ctx, m, g, opt, data, rep, progress)
		if err != nil {
			return nil, rep, err
		}
		rep.Seconds["lhspg"] = time.Since(t0).Seconds() - rep.Seconds["analyze"]
	case "taylor", "magnitude", "random":
		t0 := time.Now()
		var scores map[int]float64
		var err error
		switch opt.Method {
		case "magnitude":
			scores, err = MagnitudeScores(m, g)
		case "random":
			scores = RandomScores(g, opt.Seed)
		case "taylor":
			cfg := opt.LoRA
			cfg.Dropout = 0
			var tr *train.Trainer
			if tr, err = train.New(m, train.Options{LoRA: cfg, Batch: opt.Batch, Ctx: opt.Ctx, Seed: opt.Seed, BaseGrads: true}); err == nil {
				scores, err = TaylorScores(tr, g, data.Calib)
			}
		}
		if err != nil {
			return nil, rep, err
		}
		groups = SelectLowest(g, scores, opt.Target, opt.KindTargets, rep.ParamsBefore)
		rep.Seconds["score"] = time.Since(t0).Seconds()
	case "llm-pruner":
		var err error
		if groups, err = runLLMPruner(m, g, opt, data, rep); err != nil {
			return nil, rep, err
		}
	case "shortgpt":
		if err := runShortGPT(m, opt, data, rep); err != nil {
			return nil, rep, err
		}
	case "wanda-sp", "flap":
		t0 := time.Now()
		prune := WandaSP
		if opt.Method == "flap" {
			prune = FLAP
		}
		var err error
		if groups, err = prune(m, g, data.Calib, opt, rep.ParamsBefore); err != nil {
			return nil, rep, err
		}
		rep.Seconds["score"] = time.Since(t0).Seconds()
	}
	if err := checkNotEmptied(g, groups, opt); err != nil {
		return nil, rep, err
	}
	releaseMemory() // the trainer, before the compressed model is built
	var cm *model.Model
	var err error
	if len(rep.RemovedLayers) > 0 { // shortgpt: whole blocks, no groups
		cm, _, err = RemoveLayers(m, nil, rep.RemovedLayers)
	} else {
		cm, _, err = Compress(m, nil, g, groups)
	}
	if err != nil {
		return nil, rep, err
	}
	rep.ParamsAfter = cm.Params()
	rep.Ratio = 1 - float64(rep.ParamsAfter)/float64(rep.ParamsBefore)
	rep.RemovedGroups = len(groups)
	for _, gr := range groups {
		rep.RemovedByKind[gr.Kind]++
	}
	rep.RemovedIDs = SortedIDs(groups)
	rep.Heads, rep.KVHeads, rep.FFN, rep.Dim = cm.Heads, cm.KVHeads, cm.FFN, cm.Dim
	rep.DenseHeads, rep.DenseFFN = slices.Clone(m.Heads), slices.Clone(m.FFN)
	return cm, rep, nil
}

// checkNotEmptied refuses a selection that removes every group of a kind
// (all attention heads or all FFN channels: a model that only echoes its
// residual stream) unless opt.AllowEmpty.
func checkNotEmptied(g *graph.Graph, removed []graph.Group, opt Options) error {
	if opt.AllowEmpty {
		return nil
	}
	total, gone := map[string]int{}, map[string]int{}
	for _, gr := range g.Groups {
		total[gr.Kind]++
	}
	for _, gr := range removed {
		gone[gr.Kind]++
	}
	for _, k := range slices.Sorted(maps.Keys(total)) {
		if gone[k] == total[k] {
			return fmt.Errorf("--target %v removes every %s group (%d of %d); lower --target or pass --allow-empty", opt.Target, k, gone[k], total[k])
		}
	}
	return nil
}

// lhspgState is LHSPG's part of a checkpoint (beyond the trainer's and
// the loop's, which train.Run keeps).
type lhspgState struct {
	Redundant []int           `json:"redundant"`
	Zero      []int           `json:"zero"`
	Projected map[int]int     `json:"projected"`
	Lambda    map[int]float64 `json:"lambda"`
	Log       []StepLog       `json:"log"`
	Analysis  *Analysis       `json:"analysis"`
}

// lhspgStepper runs LHSPG's steps inside train.Run: the warm-up, then
// Periods periods of PeriodSteps steps, each starting by growing the
// redundant set.
type lhspgStepper struct {
	p      *LHSPG
	clip   float64
	rep    *Report
	g      *graph.Graph
	arrays []train.Array // the base tensors, which LHSPG rewrites
}

func (s *lhspgStepper) Optimizer() *train.AdamW { return s.p.Opt }
func (s *lhspgStepper) Arrays() []train.Array   { return s.arrays }

func (s *lhspgStepper) Step(step int, tokens, targets []int, lr float64) (float64, error) {
	cfg := s.p.Cfg
	inPeriod := step >= cfg.Warmup
	t, T := 0, cfg.PeriodSteps
	if inPeriod {
		t = (step - cfg.Warmup) % T
		if t == 0 {
			s.p.GrowRedundant((step - cfg.Warmup) / T)
		}
	}
	return s.p.Step(tokens, targets, t, T, lr, s.clip, inPeriod)
}

func (s *lhspgStepper) State() ([]byte, error) {
	p := s.p
	st := lhspgState{Redundant: p.Redundant, Projected: p.Projected, Lambda: p.Lambda, Log: s.rep.Log, Analysis: s.rep.Analysis}
	for id := range p.Zero {
		st.Zero = append(st.Zero, id)
	}
	return json.Marshal(st)
}

func (s *lhspgStepper) SetState(b []byte) error {
	var st lhspgState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("LHSPG state: %w", err)
	}
	p := s.p
	p.Redundant, p.Lambda, s.rep.Log, s.rep.Analysis = st.Redundant, st.Lambda, st.Log, st.Analysis
	for _, id := range st.Zero {
		p.Zero[id] = true
	}
	for id, t := range st.Projected {
		p.Projected[id] = t
	}
	if p.Lambda == nil {
		p.Lambda = map[int]float64{}
	}
	if s.rep.Analysis != nil {
		s.rep.Analysis.Apply(s.g)
	}
	return nil
}

// baseArrays lists every base tensor of m (f32 or f16) (LHSPG rewrites rows of
// them, so a checkpoint holds them all).
func baseArrays(m *model.Model, g *graph.Graph) []train.Array {
	var out []train.Array
	for _, name := range g.TensorNames() {
		if graph.IsLoRA(name) || (name == model.Output.Name(-1) && m.Tied) {
			continue
		}
		r, err := lookup(m, nil, name)
		if err != nil {
			continue
		}
		if r.vec != nil {
			out = append(out, train.Array{Name: name, Data: *r.vec})
		} else {
			out = append(out, train.Array{Name: name, Data: (*r.mat).F32, Half: (*r.mat).F16})
		}
	}
	return out
}

func runLoRAShear(ctx context.Context, m *model.Model, g *graph.Graph, opt Options, data Data, rep *Report, progress Progress) ([]graph.Group, error) {
	cfg := opt.LHSPG
	cfg.Target, cfg.KindTargets = opt.Target, opt.KindTargets
	// The estimate is checked before anything is allocated; the
	// analysis's trainers (rank 1, no dropout) are smaller than LHSPG's.
	topt := train.Options{LoRA: opt.LoRA, Batch: opt.Batch, Ctx: opt.Ctx, Seed: opt.Seed}
	var teacherShape *model.Model
	if opt.Distill > 0 {
		teacherShape = m // a clone of m
	}
	est := trainerPlan(m, topt, teacherShape)
	rep.Memory = &MemoryPlan{Budget: opt.Memory, Estimate: est.Total(), Parts: est}
	if opt.Memory > 0 && est.Total() > opt.Memory {
		return nil, overBudget("LoRAShear (analysis and LHSPG)", est, opt.Memory)
	}
	// The analysis runs first, its trainers gone before LHSPG's is made
	// (a resumed run has it in its checkpoint).
	resuming := opt.Resume && opt.Checkpoint != "" && fileExists(opt.Checkpoint)
	var analysis *Analysis
	if opt.Gamma > 0 && !resuming {
		t0 := time.Now()
		a, err := Analyze(m, g, data.Calib, opt.Gamma, opt.Confirm, func(d, n int) { progress("analyze", d, n, 0) })
		if err != nil {
			return nil, err
		}
		analysis = a
		rep.Seconds["analyze"] = time.Since(t0).Seconds()
		releaseMemory() // the analysis's trainers, before LHSPG allocates its own
	}
	tr, err := train.New(m, topt)
	if err != nil {
		return nil, err
	}
	if opt.Distill > 0 {
		// m is still dense here (a checkpoint's base weights are read below).
		teacher, err := train.New(m.Clone(), train.Options{Frozen: true, Batch: opt.Batch, Ctx: opt.Ctx})
		if err != nil {
			return nil, err
		}
		if err := tr.SetTeacher(teacher, opt.Distill, opt.DistillTemp); err != nil {
			return nil, err
		}
	}
	p, err := NewLHSPG(cfg, tr, g, rep.ParamsBefore)
	if err != nil {
		return nil, err
	}
	if analysis != nil {
		analysis.Apply(g)
		rep.Analysis = analysis
	}
	st := &lhspgStepper{p: p, clip: opt.Clip, rep: rep, g: g, arrays: baseArrays(m, g)}
	total := cfg.TotalSteps()
	loop := train.Config{Steps: total, Accum: 1, Seed: opt.Seed, Stepper: st,
		Sched:         train.Schedule{LR: opt.LR, MinLR: opt.LR / 10, Warmup: min(10, max(1, cfg.Warmup/2)), Total: total},
		Checkpointing: opt.Checkpointing}
	_, err = train.Run(ctx, tr, data.Train, nil, loop, func(s train.StepInfo) {
		rep.Log = append(rep.Log, StepLog{Step: s.Step, Loss: s.Loss, Sparsity: p.GroupSparsity(), ParamSparsity: p.ParamSparsity(), Seconds: s.Seconds})
		progress("lhspg", s.Step, total, s.Loss)
	})
	if err != nil {
		return nil, err
	}
	rep.ZeroedByProjection, rep.ZeroedByForgetting = p.ZeroedCounts()
	// Every redundant group is zero now; fold the LoRA into the base.
	if err := tr.Adapter.Merge(m); err != nil {
		return nil, err
	}
	return p.RemovedGroups(), nil
}

// releaseMemory collects the garbage of a finished stage and returns it
// to the system: otherwise the Go heap may grow to twice what is live
// before it collects, and the next stage's buffers come on top of the
// last one's.
func releaseMemory() { debug.FreeOSMemory() }
