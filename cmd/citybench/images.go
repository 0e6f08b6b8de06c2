package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/testcontainers"
)

// newImagesCmd groups what the containers target needs from the Docker engine:
// which images are there, building the offline ones, and removing leftovers of runs
// that died before tearing down.
func newImagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Container images for the containers target (list, build, prune)",
	}
	cmd.AddCommand(newImagesListCmd(), newImagesBuildCmd(), newImagesPruneCmd())
	return cmd
}

func newImagesListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List upstream and offline images and whether each is present locally",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			infos, err := testcontainers.ImageStatus(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "COMPONENT\tFLAVOUR\tIMAGE\tPRESENT")
			for _, i := range infos {
				fmt.Fprintf(w, "%s\t%s\t%s\t%t\n", i.Component, i.Flavour, i.Ref, i.Present)
			}
			return w.Flush()
		},
	}
}

func newImagesBuildCmd() *cobra.Command {
	var script string
	cmd := &cobra.Command{
		Use:   "build [all|base|mosquitto|kafka|cassandra|hivemq|services]...",
		Short: "Build the offline images (what `make images` runs); unchanged images are skipped",
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(script); err != nil {
				return withCode(exitInvalid, fmt.Errorf("build script %s not found (run from the repository root or pass --script): %w", script, err))
			}
			c := exec.CommandContext(cmd.Context(), script, args...)
			c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				return fmt.Errorf("build images: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&script, "script", filepath.Join("testcontainers", "images", "build.sh"), "image build script")
	return cmd
}

func newImagesPruneCmd() *cobra.Command {
	var run string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove citybench-labelled containers and networks (all runs, or one with --run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			before, err := testcontainers.Leftovers(ctx, run)
			if err != nil {
				return err
			}
			if err := testcontainers.Prune(ctx, run); err != nil {
				return err
			}
			left, err := testcontainers.Leftovers(ctx, run)
			if err != nil {
				return err
			}
			if len(left) > 0 {
				return errors.New("still present after prune: " + fmt.Sprint(left))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d citybench containers/networks\n", len(before))
			return nil
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "only this run id (label org.citybench.run)")
	return cmd
}
