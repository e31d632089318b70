// Package hf reads and writes LLaMA models in the Hugging Face layout: a
// directory with
//
//	config.json                  LlamaForCausalLM hyper-parameters
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
// HF names map one to one onto GGUF names (model.embed_tokens.weight ↔
// token_embd.weight, model.layers.N.self_attn.q_proj.weight ↔
// blk.N.attn_q.weight, mlp.gate_proj ↔ ffn_gate, input_layernorm ↔
// attn_norm, post_attention_layernorm ↔ ffn_norm, model.norm ↔ output_norm,
// lm_head ↔ output). The one difference in content is RoPE: transformers
// rotates the two halves of each head (dimension i with i + head_dim/2),
// GGUF/llama.cpp (and Shear) rotate adjacent pairs (2i with 2i+1). So the
// rows of q_proj and k_proj are permuted, per head, exactly as llama.cpp's
// convert_hf_to_gguf.py LlamaModel.permute does (with the KV head count for
// k_proj): GGUF row h·d + 2i + j is HF row h·d + j·d/2 + i (j ∈ {0, 1}).
// Save applies the inverse. No values change, so GGUF → HF → GGUF gives the
// same bytes.
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
// rope_scaling, attention or MLP biases, activations other than SiLU,
// partial rotary dimensions, PyTorch .bin checkpoints and tokenizers given
// only as tokenizer.json.
package hf
