package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newDocs writes the CLI reference (one Markdown page per command) that
// docs/cli/ holds; `make docs` regenerates it.
// docsRequest is what `shear docs` reads from its flags.
type docsRequest struct {
	Output string
}

func defaultDocsRequest() docsRequest { return docsRequest{Output: "docs/cli"} }

func newDocs() *cobra.Command {
	req := defaultDocsRequest()
	cmd := &cobra.Command{
		Use:    "docs",
		Short:  "Write the CLI reference as Markdown",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(req.Output, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if err := doc.GenMarkdownTree(root, req.Output); err != nil {
				return err
			}
			return emit(map[string]any{"output": req.Output}, func() { fmt.Printf("wrote the CLI reference to %s\n", req.Output) })
		},
	}
	cmd.Flags().StringVarP(&req.Output, "output", "o", "docs/cli", "output directory")
	bindRequest(cmd, &req, defaultDocsRequest())
	return cmd
}
