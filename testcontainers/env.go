package testcontainers

import (
	"context"
	"log/slog"
	"os"
	"strings"
)

// Environment variables testcontainers-go reads once, at its first use.
const (
	envRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"
	envHostOverride = "TESTCONTAINERS_HOST_OVERRIDE"
)

// ryukImage is the reaper image testcontainers-go would pull; when it is absent the
// reaper cannot run and we clean up ourselves (every container carries our labels).
const ryukImage = "testcontainers/ryuk"

// prepareEnv applies the settings this kind of machine needs before the first
// testcontainers-go call: it reads its configuration once per process, so later
// changes would be ignored. Values the user set are left alone.
func prepareEnv(ctx context.Context, log *slog.Logger, haveImage func(context.Context, string) bool) {
	if _, set := os.LookupEnv(envRyukDisabled); !set && !haveImage(ctx, ryukImage) {
		// Without a registry the reaper image cannot be pulled and every start would fail.
		os.Setenv(envRyukDisabled, "true")
		log.Info("reaper image not present; disabling it (citybench removes its own containers)", "env", envRyukDisabled)
	}
	if _, set := os.LookupEnv(envHostOverride); !set && insideContainer() {
		// testcontainers-go would otherwise try to reach mapped ports through the default
		// gateway it sees from "inside a container", which is not where the engine maps them here.
		os.Setenv(envHostOverride, "127.0.0.1")
		log.Info("running inside a container-like sandbox; mapped ports are reached on loopback", "env", envHostOverride)
	}
}

// insideContainer mirrors testcontainers-go's own heuristic (a /.dockerenv file, or a
// container runtime in PID 1's cgroup), which is what makes it pick the wrong host.
func insideContainer() bool {
	if _, err := os.Stat("/.dockerenv"); err == nil {
		return true
	}
	b, err := os.ReadFile("/proc/1/cgroup")
	if err != nil {
		return false
	}
	s := string(b)
	for _, marker := range []string{"docker", "containerd", "kubepods", "lxc"} {
		if strings.Contains(s, marker) {
			return true
		}
	}
	return false
}
