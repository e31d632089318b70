// Package safetensors reads and writes the safetensors format used by Hugging
// Face checkpoints and PEFT adapters:
//
//	8 bytes   little-endian u64 N, the header length
//	N bytes   JSON object: {"__metadata__": {str: str}, NAME: {"dtype": "F16",
//	          "shape": [rows, cols], "data_offsets": [begin, end]}, ...}
//	rest      the data section; offsets are relative to its start
//
// Shear holds floating-point weights only, so the dtypes are F32, F16 and
// BF16; any other dtype is rejected with an error naming it. Sharded
// checkpoints (model-00001-of-0000K.safetensors plus
// model.safetensors.index.json with its "weight_map") are read by ReadIndex
// and written by WriteSharded.
//
// Reading trusts nothing in the file. The header length is checked against
// the file size (and a 100 MB cap, as the reference implementation has)
// before the header is read; the JSON must be one well-formed object without
// duplicate keys; every tensor needs a supported dtype, a non-negative shape
// whose byte size (checked for overflow) equals its offset span, and offsets
// inside the data section. As in the reference implementation the tensors must
// tile the data section exactly: no overlap, no gap, no trailing bytes. A bad
// file gives an error that names the tensor and the problem, never a panic or
// an allocation sized by an untrusted number.
//
// Writing is atomic: the file is written beside its destination and renamed
// over it only when complete, so an error never leaves a partial file. The
// header is padded with spaces to a multiple of 8 bytes and tensors are laid
// out widest dtype first, so every tensor's data is aligned to its element
// size.
//
// Tensor.Data of a file that was read is a slice of the file's bytes: treat it
// as read-only. Float32 and FromFloat32 convert to and from float32.
package safetensors
