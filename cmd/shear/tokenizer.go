package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/tokenizer"
	"github.com/shear-ai/shear/runtime/tokenizer/bpe"
	"github.com/shear-ai/shear/runtime/train"
)

func newTokenizer() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokenizer",
		Short: "Train a vocabulary",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTokenizerTrain())
	return cmd
}

// tokenizerTrainRequest is what `shear tokenizertrain` reads from its flags.
type tokenizerTrainRequest struct {
	Files    []string
	Output   string
	Vocab    int
	MaxPiece int
	Coverage float64
}

func defaultTokenizerTrainRequest() tokenizerTrainRequest {
	return tokenizerTrainRequest{Coverage: 0.9995, MaxPiece: 16}
}

func newTokenizerTrain() *cobra.Command {
	req := defaultTokenizerTrainRequest()
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a SentencePiece-style BPE vocabulary with byte fallback",
		Long: `Train a SentencePiece-style BPE vocabulary on text files and write it as a
vocabulary-only GGUF (tokenizer.ggml.model "llama") that Shear and llama.cpp
load, e.g. for shear init --vocab-from.

The vocabulary is <unk>, <s>, </s>, the 256 byte tokens <0x00>…<0xFF>, the
characters that cover --coverage of the text, then the merged pieces in
merge order, scored −rank so the SentencePiece encoder replays the merges.
Each file is one text with a leading space (add_space_prefix); a piece
starts at a space or a change between letters, digits, newlines and other
characters. A directory stands for every file under it.`,
		Example: "  shear tokenizer train --vocab 1024 -f emma.txt -f persuasion.txt -o vocab.gguf",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(req.Files) == 0 {
				return errors.New("no training text: pass -f FILE (or a directory), repeatable")
			}
			if !cmd.Flags().Changed("vocab") {
				return errors.New("no vocabulary size: pass --vocab N (at least 260: 259 special and byte tokens plus the characters)")
			}
			if !(req.Coverage > 0 && req.Coverage <= 1) {
				return fmt.Errorf("--coverage %v must be in (0, 1]", req.Coverage)
			}
			if req.MaxPiece < 2 {
				return fmt.Errorf("--max-piece %d must be at least 2", req.MaxPiece)
			}
			if err := checkOutput(req.Output, req.Files...); err != nil {
				return err
			}
			var paths []string
			for _, f := range req.Files {
				ps, err := train.TextFiles(f)
				if err != nil {
					return fmt.Errorf("-f %s: %w", f, err)
				}
				paths = append(paths, ps...)
			}
			var texts []string
			nBytes := 0
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				texts = append(texts, string(b))
				nBytes += len(b)
			}
			start := time.Now()
			res, err := bpe.Train(texts, bpe.Options{VocabSize: req.Vocab, CharacterCoverage: req.Coverage, MaxPieceChars: req.MaxPiece})
			if err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			tok, err := tokenizer.New(res.Vocab)
			if err != nil {
				return err
			}
			nTok := 0
			for _, t := range texts {
				nTok += len(tok.Encode(t))
			}
			b := bpe.GGUF(res.Vocab)
			if err := b.WriteFile(req.Output); err != nil {
				return err
			}
			n := len(res.Vocab.Tokens)
			r := map[string]any{"output": req.Output, "vocab": n, "characters": res.Chars, "merges": res.Merges, "words": res.Words,
				"files": len(paths), "bytes": nBytes, "tokens": nTok, "bytes_per_token": float64(nBytes) / float64(max(nTok, 1)), "seconds": secs}
			return emit(r, func() {
				if n < req.Vocab {
					fmt.Fprintf(os.Stderr, "note: no pair occurs twice any more: the vocabulary has %d tokens, not %d\n", n, req.Vocab)
				}
				fmt.Printf("wrote %s: %d tokens (%d characters, %d merges); the %d training bytes are %d tokens (%.2f bytes/token)\n",
					req.Output, n, res.Chars, res.Merges, nBytes, nTok, float64(nBytes)/float64(max(nTok, 1)))
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&req.Vocab, "vocab", 0, "vocabulary size, including the 259 special and byte tokens")
	fl.StringArrayVarP(&req.Files, "file", "f", nil, "training text file or directory (repeatable)")
	fl.StringVarP(&req.Output, "output", "o", "", "output GGUF")
	fl.Float64Var(&req.Coverage, "coverage", 0.9995, "share of the text's characters that get their own piece")
	fl.IntVar(&req.MaxPiece, "max-piece", 16, "longest piece in characters")
	bindRequest(cmd, &req, defaultTokenizerTrainRequest())
	return cmd
}
