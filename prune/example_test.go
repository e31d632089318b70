package prune_test

import (
	"context"
	"fmt"
	"log"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// Prune a model by a fifth of its parameters and get the smaller dense
// model. The magnitude baseline needs no data; "lorashear" (the default
// method) trains on prune.Data{Train, Calib} and takes minutes. Pruning
// rewrites the weights, so they are loaded as float32.
func Example() {
	m, err := assets.LoadDefault(model.LoadOptions{DType: tensor.F32})
	if err != nil {
		log.Fatal(err)
	}
	opt := prune.DefaultOptions() // target 0.2, the CLI's defaults
	opt.Method = "magnitude"
	small, rep, err := prune.Prune(context.Background(), m, opt, prune.Data{}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d → %d parameters (%.1f%% removed)\n", rep.ParamsBefore, small.Params(), 100*rep.Ratio)
	fmt.Println("FFN channels per layer:", small.FFN)

	// Then write it in its source's storage:
	// small.Convert(m.OutputStorage()); small.Save("pruned.gguf")

	// Output:
	// 1246592 → 996992 parameters (20.0% removed)
	// FFN channels per layer: [383 86 152 268 381]
}

// Zero options are refused with a pointer to the defaults.
func ExampleOptions_Validate() {
	fmt.Println(prune.Options{}.Validate())
	// Output: prune: the options are unset; start from prune.DefaultOptions()
}
