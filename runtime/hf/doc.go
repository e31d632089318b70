// Package hf reads and writes models in the Hugging Face layout — the
// families of Families: Llama (and Mistral, read as Llama), Qwen2, Qwen3 —
// a directory with
//
//	config.json                  hyper-parameters (LlamaForCausalLM, …)
//	model.safetensors            weights (or model-0000K-of-0000N.safetensors
//	                             shards with model.safetensors.index.json)
//	tokenizer.model              the SentencePiece model
//	tokenizer_config.json        written for transformers; not read
//
// Load binds the weights into a *model.Model, the same structures
// model.FromGGUF fills, stored as LoadOptions.DType (float16 by default;
// float16 weights stay bit-exact, other dtypes are converted). Save writes a
// *model.Model back.
//
// # Tensor names and the q/k permutation
//
// HF names map one to one onto GGUF names; both are columns of the model's
// tensor table (model.Kinds: model.embed_tokens.weight ↔ token_embd.weight,
// model.layers.N.self_attn.q_proj.weight ↔ blk.N.attn_q.weight, …). The one
// difference in content is RoPE for the llama family: transformers rotates
// the two halves of each head (dimension i with i + head_dim/2), GGUF's
// llama (and Shear on it) rotates adjacent pairs (2i with 2i+1). So the
// rows of q_proj and k_proj are permuted, per head, exactly as llama.cpp's
// convert_hf_to_gguf.py LlamaModel.permute does (with the KV head count for
// k_proj): GGUF row h·d + 2i + j is HF row h·d + j·d/2 + i (j ∈ {0, 1};
// model.PermuteRopeRows). Save applies the inverse. Qwen's GGUF keeps HF's
// order and rotates halves (NeoX RoPE), so nothing is permuted. No values
// change, so GGUF → HF → GGUF gives the same bytes. Llama-3 rope scaling's
// per-frequency factors (GGUF's rope_freqs) are computed from rope_scaling.
//
// # What is written
//
// Matrices are stored in Options.DType (default: float32 if the model's
// matrices are float32, else float16; quantized matrices are dequantized).
// RMSNorm weights are always written as F32 so that no precision is lost;
// transformers casts them to torch_dtype when it loads. config.json carries
// bos_token_id and eos_token_id from the tokenizer and head_dim.
//
// # Per-layer widths
//
// Stock LlamaConfig has one head count and one FFN width for all layers. A
// pruned model whose layers differ is still written: the stock keys hold the
// largest width, and config.json gains
//
//	"shear_layer_widths": {"num_attention_heads": [...],
//	                       "num_key_value_heads": [...], "intermediate_size": [...]}
//
// with one entry per layer (a layer with 0 heads or 0 FFN channels has no
// tensors for that part). Load honours this key, so such a directory round
// trips through Shear; stock transformers cannot load it (it reports the
// mismatched shapes), which is the honest outcome for a model it cannot
// represent.
//
// # Not supported (clear errors)
//
// rope_scaling types other than default, linear and llama3;
// attention_bias (it also biases o_proj) and mlp_bias; sliding-window
// attention (use_sliding_window); activations other than SiLU; partial
// rotary dimensions; PyTorch .bin checkpoints; tokenizers given only as
// tokenizer.json.
package hf
