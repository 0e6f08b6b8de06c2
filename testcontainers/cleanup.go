package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
)

// Labels every citybench container and network carries. Without the reaper (it
// cannot be pulled here) they are how leftovers are found and removed.
const (
	LabelManaged   = "org.citybench"
	LabelRun       = "org.citybench.run"
	LabelComponent = "org.citybench.component"
)

// newDocker connects to the engine DOCKER_HOST names (or the default socket).
func newDocker(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine not answering (start one with scripts/docker-engine.sh start): %w", err)
	}
	return c, nil
}

// Leftovers lists citybench-labelled containers and networks, of one run when runID
// is set, else of any run. An empty answer after Stop is what "torn down" means.
func Leftovers(ctx context.Context, runID string) ([]string, error) {
	return LeftoversLabelled(ctx, runFilter(runID))
}

// LeftoversLabelled lists citybench containers and networks carrying label
// ("key" or "key=value"), e.g. one set with WithRunLabel.
func LeftoversLabelled(ctx context.Context, label string) ([]string, error) {
	dc, err := newDocker(ctx)
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	return leftovers(ctx, dc, label)
}

// runFilter is the label filter for one run, or for every citybench run.
func runFilter(runID string) string {
	if runID == "" {
		return LabelManaged
	}
	return LabelRun + "=" + runID
}

func leftovers(ctx context.Context, dc *client.Client, label string) ([]string, error) {
	f := client.Filters{}.Add("label", LabelManaged).Add("label", label)
	var out []string
	cs, err := dc.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		out = append(out, "container "+strings.TrimPrefix(firstOr(c.Names, c.ID), "/"))
	}
	ns, err := dc.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	return out, nil
}

// Prune removes every citybench-labelled container and network (of one run, or all
// when runID is empty): the clean-up after a process that died before its Stop.
func Prune(ctx context.Context, runID string) error {
	dc, err := newDocker(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	return prune(ctx, dc, runFilter(runID))
}

func prune(ctx context.Context, dc *client.Client, label string) error {
	f := client.Filters{}.Add("label", LabelManaged).Add("label", label)
	var errs []error
	cs, err := dc.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		if _, err := dc.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID[:12], err))
		}
	}
	ns, err := dc.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range ns.Items {
		if _, err := dc.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
