// Command citybench brings up a smart-city IoT pipeline, drives it with simulated
// devices from a scenario file, measures every stage and reports.
package main

import (
	"os"

	"github.com/spf13/cobra"
)

// Exit codes are API: CI scripts depend on them.
const (
	exitOK       = 0
	exitError    = 1
	exitInvalid  = 2  // bad scenario, flag or input
	exitSLOFails = 99 // the run completed but an SLO failed (k6's convention)
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "citybench",
		Short:         "Load-test and benchmark smart-city IoT data pipelines end to end",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newValidateCmd(), newReportCmd(), newCompareCmd(), newMergeCmd(), newPipelineCmd(), newImagesCmd(), newExperimentCmd(), newCapacityCmd())
	return root
}

func main() {
	os.Exit(execute(os.Args[1:]))
}

func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		root.PrintErrln("citybench:", err)
		return exitCode(err)
	}
	return exitOK
}
