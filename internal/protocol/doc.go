// Package protocol is the evaluation protocol of Shear's pruning
// experiments (docs/EVALUATION.md), shared by `shear lorashear` (through
// internal/app) and by tools/results (`make results`): how a text is cut
// into its test, validation and training parts, how a pipeline's data is
// planned and cut for calibration, how a model is scored, and the
// pipeline's default sizes.
//
// It is a package of its own so that what the results depend on is small
// and named: tools/results links this package, prune and runtime, and not
// the command layer, so a change to a command's flags or output leaves
// docs/RESULTS.md valid (the driver keys its runs by the last commit that
// changed a package it links).
package protocol
