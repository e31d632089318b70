package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newDocs writes the CLI reference (one Markdown page per command) that
// docs/cli/ holds; `make docs` regenerates it.
func newDocs() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "docs",
		Short:  "Write the CLI reference as Markdown",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if err := doc.GenMarkdownTree(root, dir); err != nil {
				return err
			}
			return emit(map[string]any{"output": dir}, func() { fmt.Printf("wrote the CLI reference to %s\n", dir) })
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "docs/cli", "output directory")
	return cmd
}
