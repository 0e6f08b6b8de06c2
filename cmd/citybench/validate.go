package main

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/harness/faults"
	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// newValidateCmd checks scenario files without running anything, so CI and
// editors can reject a bad file in milliseconds.
func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files: fields, values, topics and SLO expressions",
		Long: "Validate loads each scenario file as `citybench run` would, applies defaults and\n" +
			"reports every problem with its file, line and field. It exits 2 if any file is invalid.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return withCode(exitInvalid, errors.New("validate: name at least one scenario file"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := limits.Read()
			if err != nil {
				return err
			}
			var errs []error
			for _, path := range args {
				s, err := scenarios.Load(path)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				// The open-file preflight: a scenario this machine's processes cannot hold on its target.
				if _, err := workerCount(s, schedule.Whole, 0, m); err != nil {
					errs = append(errs, fmt.Errorf("%s: target %s on this machine: %w", path, cmp.Or(s.Target.Kind, "embedded"), err))
					continue
				}
				// Faults are checked against the scenario's own target; external
				// targets need endpoints from the environment and then refuse faults.
				if tgt, err := newTarget(s, "", nil, nil); err == nil {
					if err := faults.Check(s, tgt); err != nil {
						errs = append(errs, err)
						continue
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s (%s, %d devices, %s total)\n", path, s.Name, s.Devices(), s.Total())
			}
			if len(errs) > 0 {
				return withCode(exitInvalid, errors.Join(errs...))
			}
			return nil
		},
	}
}
