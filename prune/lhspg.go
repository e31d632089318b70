package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/shear-ai/shear/internal/valid"
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
	Epsilon      float64 `json:"epsilon"`                 // half-space projection: ⟨ŷ, y⟩ < ε·‖y‖² ⇒ B_g = 0; ε at each period's start
	// EpsilonStep and EpsilonEvery adapt ε as OTO's HSPG does: every
	// EpsilonEvery steps of a period in which the projection zeroed fewer
	// than 1% of the period's groups, ε grows by EpsilonStep (at most
	// 0.999). EpsilonStep 0 keeps ε fixed.
	EpsilonStep  float64 `json:"epsilon_step"`
	EpsilonEvery int     `json:"epsilon_every"`
	Lambda0      float64 `json:"lambda0"`    // λ0, the least λ_g (OTO's lmbda)
	Amplify      float64 `json:"amplify"`    // λ_g = Amplify × its lower bound when the direction pulls B_g away from zero (OTO's lmbda_amplify)
	LambdaCap    float64 `json:"lambda_cap"` // λ_g ≤ Lambda0·LambdaCap (OTO's hat_lmbda_coeff)
	// Balanced splits the target over the kinds in proportion to their
	// prunable parameters (when no kind targets are given), so no kind is
	// emptied because its groups' saliencies are on another scale.
	Balanced bool `json:"balanced"`
}

// DefaultLHSPG returns OTO's defaults for Adam (λ0 1e-2, amplify 20, λ_g
// at most λ0·1e3; only_train_once/optimizer/hyperparameter.py) and
// balanced kind targets (see docs/RESULTS.md for why).
func DefaultLHSPG() LHSPGConfig {
	return LHSPGConfig{Warmup: 20, Periods: 4, PeriodSteps: 20, Variant: "projection", Lambda0: 1e-2, Amplify: 20, LambdaCap: 1e3,
		EpsilonStep: 0.1, EpsilonEvery: 1, Balanced: true}
}

// TotalSteps is T_w + P·T_p.
func (c LHSPGConfig) TotalSteps() int { return c.Warmup + c.Periods*c.PeriodSteps }

// Validate checks the ranges.
func (c LHSPGConfig) Validate() error {
	err := valid.First( // the target is Options.Validate's to check
		valid.Int("--periods", c.Periods, 1, 1<<20),
		valid.Int("--period-steps", c.PeriodSteps, 1, 1<<20),
		valid.Int("--lhspg-warmup", c.Warmup, 0, 1<<20),
		valid.Float("--epsilon", c.Epsilon, valid.HalfOpenUnit),
		valid.Float("epsilon_step", c.EpsilonStep, valid.HalfOpenUnit),
	)
	if err != nil {
		return err
	}
	if c.EpsilonStep > 0 {
		if err := valid.Int("epsilon_every", c.EpsilonEvery, 1, 1<<20); err != nil {
			return err
		}
	}
	if c.Variant != "projection" && c.Variant != "decay" {
		return fmt.Errorf("--lhspg %q: must be projection or decay", c.Variant)
	}
	if c.Variant == "projection" {
		err := valid.First(
			valid.Float("lambda0", c.Lambda0, valid.Positive),
			valid.Float("amplify", c.Amplify, valid.Positive),
			valid.Float("lambda_cap", c.LambdaCap, valid.Range{Lo: 1, Hi: math.Inf(1), OpenHi: true}),
		)
		if err != nil {
			return err
		}
	}
	for k, v := range c.KindTargets {
		if err := valid.Float("--kind-targets "+k, v, valid.HalfOpenUnit); err != nil {
			return err
		}
	}
	return nil
}

// LHSPG is the pruning optimizer's state: the LoRA trainer, AdamW over A
// and B, the redundant and zero sets and each
// group's λ.
type LHSPG struct {
	Cfg   LHSPGConfig
	Tr    *train.Trainer
	Opt   *train.AdamW
	G     *graph.Graph
	Total int // parameters of the dense model

	Redundant []int        // in the order they were chosen
	Zero      map[int]bool // groups that are exactly zero (W_g and B_g)
	// Projected maps each redundant group whose B_g the half-space
	// projection set to zero to the step of its period where that happened;
	// B_g stays zero from then on and W_g fades on the forgetting schedule.
	Projected map[int]int
	Lambda    map[int]float64 // λ_g of each redundant group's last trial step
	views     map[int]*groupView
	x, xh     []float32   // scratch for x_g and the LoRA update
	before    [][]float32 // B_g of the active redundant groups before AdamW
	frozen    [][]float32 // every trainable tensor before AdamW (no-transfer)
}

// NewLHSPG prepares the state; tr must train a LoRA adapter on an f32 or
// f16 base. LHSPG needs no gradient of the frozen base: its trial step and
// projection act on each redundant group's trainable part B_g with the
// direction AdamW took, and forgetting scales x_g in place.
func NewLHSPG(cfg LHSPGConfig, tr *train.Trainer, g *graph.Graph, totalParams int) (*LHSPG, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr.Adapter == nil {
		return nil, fmt.Errorf("prune: LHSPG trains LoRA adapters; the trainer has none")
	}
	p := &LHSPG{Cfg: cfg, Tr: tr, G: g, Total: totalParams, Zero: map[int]bool{}, Projected: map[int]int{}, Lambda: map[int]float64{}, views: map[int]*groupView{}}
	p.Opt = train.NewAdamW(tr.Params(), 0)
	return p, nil
}

func (p *LHSPG) view(id int) *groupView {
	v, ok := p.views[id]
	if !ok {
		var err error
		v, err = newGroupView(p.Tr.M, p.Tr.Adapter, &p.G.Groups[id])
		if err != nil {
			panic(err) // the graph was built from this model: names always resolve
		}
		p.views[id] = v
	}
	return v
}

func (p *LHSPG) scratch(n int) {
	if cap(p.x) < n {
		p.x, p.xh = make([]float32, n), make([]float32, n)
	}
	p.x, p.xh = p.x[:n], p.xh[:n]
}

// Saliency scores every candidate group (OTO): normalised magnitude,
// average magnitude, cosine similarity of x_g with its LoRA update
// (shifted to [0, 2]) and first-order Taylor |⟨x_g, (s·B·A)_g⟩|, each
// divided by its L2 norm over the candidates, summed with equal weights.
func (p *LHSPG) Saliency(ids []int) map[int]float64 {
	crit := p.saliencyCriteria(ids)
	var norms [4]float64
	for _, c := range crit {
		for k := range norms {
			norms[k] += c[k] * c[k]
		}
	}
	out := map[int]float64{}
	for i, id := range ids {
		s := 0.0
		for k := range norms {
			if norms[k] > 0 {
				s += crit[i][k] / math.Sqrt(norms[k])
			}
		}
		out[id] = s
	}
	return out
}

// saliencyCriteria returns, per group, Saliency's four criteria before
// normalisation: ‖x_g‖, ‖x_g‖/|g|, 1 + cos(x_g, (s·B·A)_g) and
// |⟨x_g, (s·B·A)_g⟩|.
func (p *LHSPG) saliencyCriteria(ids []int) [][4]float64 {
	crit := make([][4]float64, len(ids))
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
	}
	return crit
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
// learning rate η = lr; it returns the training loss. It mirrors §4, with
// the update of a redundant group g going through its trainable part
// y = B_g (x_g = W_g + s·B_g·A):
//  1. forward/backward on a batch; AdamW on all A, B (with no-transfer,
//     only the B_g of redundant groups move: the LoRA of kept groups and A
//     stay frozen, yet every step is taken);
//  2. for each redundant group, the trial step ŷ = y − η·d − η·λ_g·y/‖y‖,
//     d the Adam-preconditioned direction AdamW just took, λ_g by
//     dhspgLambda;
//  3. half-space projection: ⟨ŷ, y⟩ < ε·‖y‖² ⇒ B_g = 0 for good;
//  4. progressive forgetting: W_g, B_g ← ·(T−t−1)/(T−t), exactly zero at
//     the period's end; zero groups stay zero.
func (p *LHSPG) Step(tokens, targets []int, t, T int, lr, clip float64, inPeriod bool) (float64, error) {
	tr := p.Tr
	tr.ZeroGrad()
	loss, _, err := tr.Step(tokens, targets, 1)
	if err != nil {
		return 0, err
	}
	train.ClipGradNorm(tr.Params(), clip)
	var active []int // redundant groups not yet zero
	if inPeriod {
		for _, id := range p.Redundant {
			if !p.Zero[id] {
				active = append(active, id)
			}
		}
	}
	p.saveB(active, &p.before)
	freeze := inPeriod && p.Cfg.NoTransfer
	if freeze {
		p.saveParams()
	}
	p.Opt.Step(tr.Params(), lr)
	if freeze {
		p.keepOnlyRedundant(active)
	}
	// Masking: zero groups stay zero whatever the optimizer did to B.
	for id := range p.Zero {
		p.view(id).zero()
	}
	for id := range p.Projected {
		p.view(id).zeroB()
	}
	eps := p.epsilon(active, t)
	f := float32(T-t-1) / float32(T-t)
	for k, id := range active {
		v := p.view(id)
		// At the period's last step (f = 0) forgetting zeroes the group: a
		// projection there would be counted as one that came first.
		if _, done := p.Projected[id]; p.Cfg.Variant == "projection" && !done && f > 0 {
			p.trialStep(id, v, p.before[k], lr, eps, t)
		}
		v.scale(f)
		if f == 0 {
			p.Zero[id] = true
		}
	}
	return loss, nil
}

// trialStep is steps 2 and 3 of Step for group id: y holds B_g before
// AdamW, the view B_g after it (y − η·d).
func (p *LHSPG) trialStep(id int, v *groupView, y []float32, lr, eps float64, t int) {
	ny := norm(y)
	if ny == 0 || lr <= 0 {
		return // B_g untrained yet (or no LoRA rows): nothing to project
	}
	p.scratch(len(y))
	yh := p.xh
	v.readB(yh)
	var dot, dd float64 // ⟨y, d⟩ and ‖d‖², d = (y − y_AdamW)/η
	for i := range y {
		d := (float64(y[i]) - float64(yh[i])) / lr
		dot += float64(y[i]) * d
		dd += d * d
	}
	lam := dhspgLambda(dot, ny, math.Sqrt(dd), p.Cfg.Lambda0, p.Cfg.Amplify, p.Cfg.LambdaCap)
	p.Lambda[id] = lam
	c := lr * lam / ny
	for i := range yh {
		yh[i] -= float32(c * float64(y[i]))
	}
	if !p.Cfg.NoProjection && dotf(yh, y) < eps*ny*ny {
		v.zeroB()
		p.Projected[id] = t
		return
	}
	v.writeB(yh)
}

// epsilon is the projection's ε at step t of the period whose groups are
// ids (OTO v1: optimizer/hspg.py, HSPG.adapt_epsilon, called every
// adapt_epsilon_freq steps by train/run_bert_squad.py). It replays the
// checks from the period's start using the steps at which groups were
// projected, so a resumed run needs no more state than Projected.
func (p *LHSPG) epsilon(ids []int, t int) float64 {
	eps := p.Cfg.Epsilon
	if p.Cfg.EpsilonStep == 0 || len(ids) == 0 {
		return eps
	}
	last := 0
	for c := p.Cfg.EpsilonEvery; c <= t; c += p.Cfg.EpsilonEvery {
		n := 0 // projected before step c
		for _, id := range ids {
			if s, ok := p.Projected[id]; ok && s < c {
				n++
			}
		}
		if float64(n-last) < 0.01*float64(len(ids)) {
			eps = min(eps+p.Cfg.EpsilonStep, 0.999)
		}
		last = n
	}
	return eps
}

// dhspgLambda is DHSPG's λ_g for one step (OTO: only_train_once/optimizer/
// dhspg.py, DHSPG.step, before HESSO replaced it), from ⟨y, d⟩, ‖y‖ and
// ‖d‖ of the group's variable y and the optimizer's direction d. When d
// pulls y away from zero (⟨y, d⟩ < 0), the step −η(d + λ·y/‖y‖) shrinks y
// for λ > lo = −⟨y, d⟩/‖y‖ and stays a descent direction for
// λ < hi = −‖d‖²·‖y‖/⟨y, d⟩ (lo ≤ hi by Cauchy–Schwarz): λ is amplify·lo
// clipped to [λ0, λ0·cap], and the midpoint (lo+hi)/2 where that reaches
// hi. Otherwise d already points toward zero and λ is λ0. λ starts from λ0
// at every step: nothing compounds.
func dhspgLambda(dot, ny, nd, lambda0, amplify, capCoeff float64) float64 {
	if dot >= 0 || ny == 0 {
		return lambda0
	}
	lo := -dot / ny
	hi := -nd * nd * ny / dot
	lam := min(max(amplify*lo, lambda0), lambda0*capCoeff)
	if lam >= hi {
		lam = (lo + hi) / 2
	}
	return lam
}

// saveB copies the B_g of groups ids into (*dst)[k], reusing its storage.
func (p *LHSPG) saveB(ids []int, dst *[][]float32) {
	for len(*dst) < len(ids) {
		*dst = append(*dst, nil)
	}
	for k, id := range ids {
		v := p.view(id)
		if cap((*dst)[k]) < v.bSize() {
			(*dst)[k] = make([]float32, v.bSize())
		}
		(*dst)[k] = (*dst)[k][:v.bSize()]
		v.readB((*dst)[k])
	}
}

// saveParams copies every trainable tensor into p.frozen.
func (p *LHSPG) saveParams() {
	params := p.Tr.Params()
	if len(p.frozen) != len(params) {
		p.frozen = make([][]float32, len(params))
	}
	for i, q := range params {
		p.frozen[i] = append(p.frozen[i][:0], q.W...)
	}
}

// keepOnlyRedundant undoes AdamW's step everywhere except on the B_g of
// the groups ids (the no-transfer ablation).
func (p *LHSPG) keepOnlyRedundant(ids []int) {
	var stepped [][]float32
	p.saveB(ids, &stepped)
	for i, q := range p.Tr.Params() {
		copy(q.W, p.frozen[i])
	}
	for k, id := range ids {
		p.view(id).writeB(stepped[k])
	}
}

// ZeroedCounts returns how many redundant groups the half-space projection
// zeroed (their B_g, before forgetting zeroed W_g at the period's end) and
// how many reached zero by forgetting alone.
func (p *LHSPG) ZeroedCounts() (byProjection, byForgetting int) {
	for id := range p.Zero {
		if _, ok := p.Projected[id]; !ok {
			byForgetting++
		}
	}
	return len(p.Projected), byForgetting
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

// ParamSparsity is the fraction of the dense model's parameters in groups
// that are exactly zero: what --target counts. Groups differ in size (an
// attention group holds many more parameters than an FFN channel), so it
// differs from GroupSparsity.
func (p *LHSPG) ParamSparsity() float64 {
	n := 0
	for id := range p.Zero {
		n += p.G.Groups[id].Params
	}
	return float64(n) / float64(max(p.Total, 1))
}

// RemovedGroups returns the redundant groups (all zero after the last period).
func (p *LHSPG) RemovedGroups() []graph.Group {
	var out []graph.Group
	for _, id := range p.Redundant {
		out = append(out, p.G.Groups[id])
	}
	return out
}
