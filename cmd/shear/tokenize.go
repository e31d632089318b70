package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// tokenizeRequest is what `shear tokenize` reads from its flags (and its
// argument: the text may also be given positionally).
type tokenizeRequest struct {
	Model modelFlags
	Tok   app.TokenizeRequest
}

func defaultTokenize() tokenizeRequest { return tokenizeRequest{Model: defaultModelFlags()} }

func newTokenize() *cobra.Command {
	req := defaultTokenize()
	cmd := &cobra.Command{
		Use:   "tokenize [TEXT]",
		Short: "Print the token ids of a text (no BOS unless --bos)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := req.Tok
			if len(args) == 1 {
				if r.Text != "" {
					return errors.New("give the text either as -p TEXT or as the argument, not both")
				}
				r.Text = args[0]
			}
			m, err := req.Model.load()
			if err != nil {
				return err
			}
			ids := app.Tokenize(m, r).Tokens
			return emit(map[string]any{"tokens": ids}, func() {
				parts := make([]string, len(ids))
				for i, id := range ids {
					parts[i] = fmt.Sprintf("%d %q", id, m.Tok.Piece(id))
				}
				fmt.Println(strings.Join(parts, "\n"))
			})
		},
	}
	req.Model.register(cmd)
	cmd.Flags().StringVarP(&req.Tok.Text, "prompt", "p", req.Tok.Text, "text to tokenize")
	cmd.Flags().BoolVar(&req.Tok.BOS, "bos", req.Tok.BOS, "prepend the BOS token")
	cmd.Flags().BoolVar(&req.Tok.ParseSpecial, "parse-special", req.Tok.ParseSpecial, "turn special-token strings in the text (e.g. <|im_start|>) into their tokens; off, as in llama.cpp, they are plain text")
	bindRequest(cmd, &req, defaultTokenize())
	return cmd
}
