//go:build containers

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestImagesCommands runs the images subcommands against the real engine.
func TestImagesCommands(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of the output
	}{
		{[]string{"list"}, []string{"COMPONENT", "citybench/kafka:3.9.1-offline", "apache/kafka:3.9.1"}},
		{[]string{"prune", "--run", "no-such-run"}, []string{"removed 0 citybench"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			cmd := newImagesCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(c.args)
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%v: %v\n%s", c.args, err, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
