package app

// The structural operations on one model: its dependency graph, the
// removal of chosen groups, the knowledge analysis; and merging a LoRA
// adapter into it.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// GraphRequest is `shear graph`: the dependency graph of a model with
// LoRA modules of rank LoRARank composed into its linears, and its
// prunable groups.
type GraphRequest struct {
	LoRARank int    `json:"lora_rank"`        // 0: no LoRA modules
	Hidden   bool   `json:"hidden,omitempty"` // the hidden (residual) channels are prunable
	Format   string `json:"format"`           // json (GraphResult) or dot (GraphResult.DOT)
}

// Default is `shear graph`'s request: rank-8 modules, JSON.
func (GraphRequest) Default() GraphRequest { return GraphRequest{LoRARank: 8, Format: "json"} }

// Validate checks the request.
func (r GraphRequest) Validate() error {
	if r.Format != "json" && r.Format != "dot" {
		return badRequest("--format %q must be json or dot", r.Format)
	}
	if err := valid.Int("--lora-rank", r.LoRARank, 0, 1<<12); err != nil {
		return RequestError{err}
	}
	return nil
}

// GraphResult is the graph of `shear graph --format json`, with the
// number of groups of each kind and of the prunable ones.
type GraphResult struct {
	Model      string         `json:"model"` // set by the caller: the model's file
	Params     int            `json:"params"`
	LoRARank   int            `json:"lora_rank"`
	Hidden     bool           `json:"hidden"`
	Kinds      map[string]int `json:"kinds"`
	Prunable   int            `json:"prunable"`
	Groups     []graph.Group  `json:"groups"`
	Nodes      []graph.Node   `json:"nodes"`
	Edges      []graph.Edge   `json:"edges"`
	NodeGroups [][]int        `json:"node_groups"`
	DOT        string         `json:"-"` // the graph in Graphviz's language (Format dot)
}

// Graph builds m's graph.
func Graph(m *model.Model, req GraphRequest) (GraphResult, error) {
	if err := req.Validate(); err != nil {
		return GraphResult{}, err
	}
	g := graph.Build(m, graph.Options{Hidden: req.Hidden, LoRARank: req.LoRARank})
	res := GraphResult{Params: m.Params(), LoRARank: req.LoRARank, Hidden: req.Hidden, Kinds: map[string]int{},
		Groups: g.Groups, Nodes: g.Nodes, Edges: g.Edges, NodeGroups: g.NodeGroups}
	for _, gr := range g.Groups {
		res.Kinds[gr.Kind]++
		if gr.Prunable {
			res.Prunable++
		}
	}
	if req.Format == "dot" {
		res.DOT = g.DOT()
	}
	return res, nil
}

// CompressRequest is `shear compress`: the groups Remove (ids of the
// graph GraphRequest{Hidden: Hidden} builds) cut out of a model, which
// becomes a smaller dense one.
type CompressRequest struct {
	Remove []int `json:"remove"`
	Hidden bool  `json:"hidden,omitempty"`
}

// Default is `shear compress`'s request without groups.
func (CompressRequest) Default() CompressRequest { return CompressRequest{} }

// CompressResult is what `shear compress` reports of the model.
type CompressResult struct {
	ParamsBefore  int     `json:"params_before"`
	ParamsAfter   int     `json:"params_after"`
	Ratio         float64 `json:"ratio"` // fraction of the parameters removed
	RemovedGroups int     `json:"removed_groups"`
	Heads         []int   `json:"heads"`
	KVHeads       []int   `json:"kv_heads"`
	FFN           []int   `json:"ffn"`
	Dim           int     `json:"dim"`
}

// Compress returns m without req.Remove's groups (m is left as it was).
func Compress(m *model.Model, req CompressRequest) (*model.Model, CompressResult, error) {
	g := graph.Build(m, graph.Options{Hidden: req.Hidden})
	groups, err := prune.Select(g, req.Remove)
	if err != nil {
		return nil, CompressResult{}, err
	}
	cm, _, err := prune.Compress(m, nil, g, groups)
	if err != nil {
		return nil, CompressResult{}, err
	}
	return cm, CompressResult{ParamsBefore: m.Params(), ParamsAfter: cm.Params(), Ratio: 1 - float64(cm.Params())/float64(m.Params()),
		RemovedGroups: len(groups), Heads: cm.Heads, KVHeads: cm.KVHeads, FFN: cm.FFN, Dim: cm.Dim}, nil
}

// ReadMask reads group ids from a JSON file: an array of ids, or an
// object with "remove": [ids].
func ReadMask(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []int
	if err := json.Unmarshal(b, &ids); err == nil {
		return ids, nil
	}
	var obj struct {
		Remove []int `json:"remove"`
	}
	if err := json.Unmarshal(b, &obj); err != nil || obj.Remove == nil {
		return nil, badRequest("%s: want a JSON array of group ids or {\"remove\": [...]}", path)
	}
	return obj.Remove, nil
}

// ParseIDs reads comma-separated group ids (--remove).
func ParseIDs(s string) ([]int, error) {
	var ids []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.Atoi(part)
		if err != nil {
			return nil, badRequest("--remove: %q is not a group id", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// AnalyzeRequest is `shear analyze`: the knowledge distribution analysis
// prune and lorashear run, the loss deviation of removing each group,
// measured on a probe of about 128 tokens cut from the first CalibSeqs
// sequences of Ctx tokens of the text Calib.
type AnalyzeRequest struct {
	Calib     string  `json:"calib"` // text file or directory
	Gamma     float64 `json:"gamma"` // fraction of groups marked unprunable
	Ctx       int     `json:"ctx"`
	CalibSeqs int     `json:"calib_seqs"`
	Hidden    bool    `json:"hidden,omitempty"`
	Confirm   int     `json:"confirm"` // groups nearest the γ boundary probed exactly (prune.ProbeAll: every group)
}

// Default is `shear analyze`'s request without data: prune's γ, context
// and calibration sequences.
func (AnalyzeRequest) Default() AnalyzeRequest {
	o := prune.DefaultOptions()
	return AnalyzeRequest{Gamma: o.Gamma, Ctx: o.Ctx, CalibSeqs: LoRAShearRequest{}.Default().CalibSeqs, Confirm: o.Confirm}
}

// Validate checks what can be checked before the model is loaded.
func (r AnalyzeRequest) Validate() error {
	if r.Calib == "" {
		return badRequest("no calibration data: pass --calib PATH")
	}
	if err := valid.First(valid.Float("--gamma", r.Gamma, valid.HalfOpenUnit), valid.Int("--calib-seqs", r.CalibSeqs, 1, 1<<16),
		valid.Int("--ctx", r.Ctx, 8, train.MaxCtx), valid.Int("--confirm", r.Confirm, prune.ProbeAll, 1<<30)); err != nil {
		return RequestError{err}
	}
	return nil
}

// AnalyzeResult is the analysis with its mean deviation per layer and
// group kind.
type AnalyzeResult struct {
	Analysis      *prune.Analysis      `json:"analysis"`
	LayerKindMean map[string][]float64 `json:"layer_kind_mean"`
}

// Analyze runs req on m; progress sees stage "analyze".
func Analyze(m *model.Model, req AnalyzeRequest, progress Progress) (AnalyzeResult, error) {
	if err := req.Validate(); err != nil {
		return AnalyzeResult{}, err
	}
	if err := valid.Int("--ctx", req.Ctx, 8, m.CtxLen); err != nil {
		return AnalyzeResult{}, RequestError{err}
	}
	ex, err := train.LoadText(m.Tok, req.Calib, req.Ctx)
	if err != nil {
		return AnalyzeResult{}, err
	}
	ex = ex[:min(len(ex), req.CalibSeqs)]
	g := graph.Build(m, graph.Options{Hidden: req.Hidden})
	a, err := prune.Analyze(m, g, ex, req.Gamma, req.Confirm, func(done, total int) { progress("analyze", done, total, 0) })
	if err != nil {
		return AnalyzeResult{}, err
	}
	return AnalyzeResult{Analysis: a, LayerKindMean: a.LayerKindMeans(g)}, nil
}

// MergeRequest is `shear merge`: the PEFT LoRA adapter in the directory
// Adapter (or in its adapter/, as finetune writes it) merged into a model.
type MergeRequest struct {
	Adapter string `json:"adapter"`
}

// Default is `shear merge`'s request without an adapter.
func (MergeRequest) Default() MergeRequest { return MergeRequest{} }

// MergeResult is what `shear merge` reports of the model.
type MergeResult struct {
	Params        int `json:"params"`
	AdapterParams int `json:"adapter_params"`
}

// Merge merges req.Adapter into m (float32: modified in place).
func Merge(m *model.Model, req MergeRequest) (MergeResult, error) {
	if req.Adapter == "" {
		return MergeResult{}, badRequest("no adapter: pass --adapter DIR")
	}
	a, err := hf.LoadAdapter(AdapterDir(req.Adapter), m)
	if err != nil {
		return MergeResult{}, err
	}
	if err := a.Merge(m); err != nil {
		return MergeResult{}, err
	}
	return MergeResult{Params: m.Params(), AdapterParams: a.Params()}, nil
}

// AdapterDir accepts a finetune output directory for the adapter inside
// it (finetune -o ft/ writes ft/adapter/).
func AdapterDir(dir string) string {
	inner := filepath.Join(dir, "adapter")
	if _, err := os.Stat(filepath.Join(dir, "adapter_config.json")); err != nil {
		if _, err := os.Stat(filepath.Join(inner, "adapter_config.json")); err == nil {
			return inner
		}
	}
	return dir
}
