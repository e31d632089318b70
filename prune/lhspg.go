package prune

import (
	"fmt"
	"github.com/shear-ai/shear/internal/valid"
	"math"
	"sort"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/train"
)

// LHSPGConfig configures LoRA Half-Space Projected Gradient (§4).
type LHSPGConfig struct {
	// Target and KindTargets are set from Options.Target and
	// Options.KindTargets by Prune (one target per run, not on the wire).
	Target      float64            `json:"-"`            // fraction of all parameters to remove
	KindTargets map[string]float64 `json:"-"`            // optional per-kind fractions of all parameters (attention, mlp, hidden)
	Warmup      int                `json:"warmup"`       // T_w: plain LoRA steps before pruning starts
	Periods     int                `json:"periods"`      // P
	PeriodSteps int                `json:"period_steps"` // T_p
	Variant     string             `json:"variant"`      // "projection" (trial step + half-space projection + forgetting) or "decay" (forgetting only)
	// Ablations.
	NoProjection bool    `json:"no_projection,omitempty"` // skip the half-space projection (trial steps and forgetting remain)
	NoTransfer   bool    `json:"no_transfer,omitempty"`   // freeze the LoRA during the periods: no knowledge transfer to kept groups
	Epsilon      float64 `json:"epsilon"`
	Lambda0      float64 `json:"lambda0"`    // initial λ_g
	Amplify      float64 `json:"amplify"`    // λ growth factor when the gradient pulls away from zero
	LambdaCap    float64 `json:"lambda_cap"` // largest λ_g
	// Balanced splits the target over the kinds in proportion to their
	// prunable parameters (when no kind targets are given), so no kind is
	// emptied because its groups' saliencies are on another scale.
	Balanced bool `json:"balanced"`
}

// DefaultLHSPG returns OTO's defaults for Adam (λ 1e-2, amplify 20, cap
// 1e3) and balanced kind targets (see docs/RESULTS.md for why).
func DefaultLHSPG() LHSPGConfig {
	return LHSPGConfig{Warmup: 20, Periods: 4, PeriodSteps: 20, Variant: "projection", Lambda0: 1e-2, Amplify: 20, LambdaCap: 1e3, Balanced: true}
}

// TotalSteps is T_w + P·T_p.
func (c LHSPGConfig) TotalSteps() int { return c.Warmup + c.Periods*c.PeriodSteps }

// Validate checks the ranges.
func (c LHSPGConfig) Validate() error {
	err := valid.First(
		valid.Float("--target", c.Target, valid.Fraction),
		valid.Int("--periods", c.Periods, 1, 1<<20),
		valid.Int("--period-steps", c.PeriodSteps, 1, 1<<20),
		valid.Int("--lhspg-warmup", c.Warmup, 0, 1<<20),
		valid.Float("--epsilon", c.Epsilon, valid.NonNegative),
		valid.Float("lambda0", c.Lambda0, valid.NonNegative),
		valid.Float("amplify", c.Amplify, valid.NonNegative),
		valid.Float("lambda_cap", c.LambdaCap, valid.NonNegative),
	)
	if err != nil {
		return err
	}
	if c.Variant != "projection" && c.Variant != "decay" {
		return fmt.Errorf("--lhspg %q: must be projection or decay", c.Variant)
	}
	for k, v := range c.KindTargets {
		if err := valid.Float("--kind-targets "+k, v, valid.HalfOpenUnit); err != nil {
			return err
		}
	}
	return nil
}

// LHSPG is the pruning optimizer's state: the trainer (LoRA with base
// gradients), AdamW over A and B, the redundant and zero sets and each
// group's λ.
type LHSPG struct {
	Cfg   LHSPGConfig
	Tr    *train.Trainer
	Opt   *train.AdamW
	G     *graph.Graph
	Total int // parameters of the dense model

	Redundant []int        // in the order they were chosen
	Zero      map[int]bool // groups that are exactly zero
	Lambda    map[int]float64
	views     map[int]*groupView
	x, xh, gr []float32 // scratch for x_g, x̂_g, ∇_g
}

// NewLHSPG prepares the state; tr must train a LoRA adapter with
// BaseGrads on a float32 model.
func NewLHSPG(cfg LHSPGConfig, tr *train.Trainer, g *graph.Graph, totalParams int) (*LHSPG, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr.Adapter == nil {
		return nil, fmt.Errorf("prune: LHSPG trains LoRA adapters; the trainer has none")
	}
	p := &LHSPG{Cfg: cfg, Tr: tr, G: g, Total: totalParams, Zero: map[int]bool{}, Lambda: map[int]float64{}, views: map[int]*groupView{}}
	p.Opt = train.NewAdamW(tr.Params(), 0)
	return p, nil
}

func (p *LHSPG) view(id int) *groupView {
	v, ok := p.views[id]
	if !ok {
		var err error
		v, err = newGroupView(p.Tr.M, p.Tr.Adapter, &p.G.Groups[id], p.Tr.WeightGrad)
		if err != nil {
			panic(err) // the graph was built from this model: names always resolve
		}
		p.views[id] = v
	}
	return v
}

func (p *LHSPG) scratch(n int) {
	if cap(p.x) < n {
		p.x, p.xh, p.gr = make([]float32, n), make([]float32, n), make([]float32, n)
	}
	p.x, p.xh, p.gr = p.x[:n], p.xh[:n], p.gr[:n]
}

// Saliency scores every candidate group (OTO): normalised magnitude,
// average magnitude, cosine similarity of x_g with its LoRA update
// (shifted to [0, 2]) and first-order Taylor |⟨x_g, (s·B·A)_g⟩|, each
// divided by its L2 norm over the candidates, summed with equal weights.
func (p *LHSPG) Saliency(ids []int) map[int]float64 {
	crit := make([][4]float64, len(ids))
	var norms [4]float64
	for k, id := range ids {
		v := p.view(id)
		p.scratch(v.size)
		delta := p.xh
		v.merged(p.x, delta)
		nx, nd := norm(p.x), norm(delta)
		cos := 0.0
		if nx > 0 && nd > 0 {
			cos = dotf(p.x, delta) / (nx * nd)
		}
		crit[k] = [4]float64{nx, nx / float64(v.size), 1 + cos, math.Abs(dotf(p.x, delta))}
		for c := range norms {
			norms[c] += crit[k][c] * crit[k][c]
		}
	}
	out := map[int]float64{}
	for k, id := range ids {
		s := 0.0
		for c := range norms {
			if norms[c] > 0 {
				s += crit[k][c] / math.Sqrt(norms[c])
			}
		}
		out[id] = s
	}
	return out
}

// removed sums the parameters of the redundant groups, per kind and all.
func (p *LHSPG) removed() (map[string]int, int) {
	byKind := map[string]int{}
	var groups []graph.Group
	for _, id := range p.Redundant {
		byKind[p.G.Groups[id].Kind] += p.G.Groups[id].Params
		groups = append(groups, p.G.Groups[id])
	}
	all, _ := RemovedParams(p.G, groups)
	return byKind, all
}

// GrowRedundant adds the lowest-saliency prunable groups until the removed
// parameters reach fraction (period+1)/P of the target (per kind when
// kind targets are set). At the last period the target is met: the last
// group chosen is the one that crosses it.
func (p *LHSPG) GrowRedundant(period int) {
	frac := float64(period+1) / float64(p.Cfg.Periods)
	isRed := map[int]bool{}
	for _, id := range p.Redundant {
		isRed[id] = true
	}
	var cands []int
	for _, gr := range p.G.Groups {
		if gr.Prunable && !isRed[gr.ID] {
			cands = append(cands, gr.ID)
		}
	}
	sal := p.Saliency(cands)
	sort.Slice(cands, func(i, j int) bool {
		if sal[cands[i]] != sal[cands[j]] {
			return sal[cands[i]] < sal[cands[j]]
		}
		return cands[i] < cands[j]
	})
	kindTargets := p.Cfg.KindTargets
	if len(kindTargets) == 0 && p.Cfg.Balanced {
		prunable := map[string]float64{}
		var sum float64
		for _, g := range p.G.Groups {
			if g.Prunable || isRed[g.ID] {
				prunable[g.Kind] += float64(g.Params)
				sum += float64(g.Params)
			}
		}
		kindTargets = map[string]float64{}
		for k, n := range prunable {
			kindTargets[k] = p.Cfg.Target * n / sum
		}
	}
	byKind, all := p.removed()
	add := func(id int) {
		p.Redundant = append(p.Redundant, id)
		p.Lambda[id] = p.Cfg.Lambda0
		g := p.G.Groups[id]
		byKind[g.Kind] += g.Params
		all += g.Params
	}
	if len(kindTargets) > 0 {
		for _, id := range cands {
			k := p.G.Groups[id].Kind
			if float64(byKind[k]) < frac*kindTargets[k]*float64(p.Total) {
				add(id)
			}
		}
		return
	}
	goal := frac * p.Cfg.Target * float64(p.Total)
	for _, id := range cands {
		if float64(all) >= goal {
			break
		}
		add(id)
	}
}

// Step is one LHSPG step at step t (0-based) of a period of T steps, with
// learning rate lr; it returns the training loss. It mirrors §4:
//  1. forward/backward on a batch; AdamW on all A, B (unless no-transfer);
//  2. for each redundant group, the trial step
//     x̂_g = x_g − η·∇_g − η·λ_g·x_g/‖x_g‖ with λ_g adapted (DHSPG);
//  3. half-space projection: ⟨x̂_g, x_g⟩ < ε·‖x_g‖² ⇒ x_g = 0;
//  4. progressive forgetting: W_g, B_g ← ·(T−t−1)/(T−t), exactly zero at
//     the period's end; zero groups stay zero.
func (p *LHSPG) Step(tokens, targets []int, t, T int, lr, clip float64, inPeriod bool) (float64, error) {
	tr := p.Tr
	tr.ZeroGrad()
	tr.ZeroWeightGrads()
	loss, _, err := tr.Step(tokens, targets, 1)
	if err != nil {
		return 0, err
	}
	train.ClipGradNorm(tr.Params(), clip)
	if !(inPeriod && p.Cfg.NoTransfer) {
		p.Opt.Step(tr.Params(), lr)
	}
	// Masking: zero groups stay zero whatever the optimizer did to B.
	for id := range p.Zero {
		p.view(id).zero()
	}
	if !inPeriod {
		return loss, nil
	}
	for _, id := range p.Redundant {
		if p.Zero[id] {
			continue
		}
		v := p.view(id)
		if p.Cfg.Variant == "projection" {
			p.scratch(v.size)
			v.merged(p.x, nil)
			v.gradient(p.gr)
			nx := norm(p.x)
			if nx == 0 {
				p.Zero[id] = true
				continue
			}
			// λ_g (DHSPG): when the gradient pulls x away from zero, grow λ
			// within [−⟨x,∇⟩/‖x‖, −‖∇‖²‖x‖/⟨x,∇⟩] so forgetting wins without
			// overshooting past the origin.
			dot := dotf(p.x, p.gr)
			lam := p.Lambda[id]
			if dot < 0 {
				lo := -dot / nx
				hi := math.Min(p.Cfg.LambdaCap, -norm(p.gr)*norm(p.gr)*nx/dot)
				lam = math.Min(math.Max(lam*p.Cfg.Amplify, lo), math.Max(hi, lo))
				p.Lambda[id] = lam
			}
			for i := range p.x {
				p.xh[i] = p.x[i] - float32(lr)*p.gr[i] - float32(lr*lam/nx)*p.x[i]
			}
			if !p.Cfg.NoProjection && dotf(p.xh, p.x) < p.Cfg.Epsilon*nx*nx {
				v.zero()
				p.Zero[id] = true
				continue
			}
			for i := range p.x {
				p.xh[i] -= p.x[i] // the trial step's displacement, applied through W_g
			}
			v.addBase(p.xh)
		}
		f := float32(T-t-1) / float32(T-t)
		v.scale(f)
		if f == 0 {
			p.Zero[id] = true
		}
	}
	return loss, nil
}

// GroupSparsity is the fraction of all groups that are exactly zero.
func (p *LHSPG) GroupSparsity() float64 {
	n := 0
	for _, g := range p.G.Groups {
		if g.Prunable || p.Zero[g.ID] {
			n++
		}
	}
	return float64(len(p.Zero)) / float64(max(n, 1))
}

// RemovedGroups returns the redundant groups (all zero after the last period).
func (p *LHSPG) RemovedGroups() []graph.Group {
	var out []graph.Group
	for _, id := range p.Redundant {
		out = append(out, p.G.Groups[id])
	}
	return out
}
