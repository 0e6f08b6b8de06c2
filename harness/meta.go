package harness

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

func meta(sc *scenarios.Scenario, plan *schedule.Plan, t target.Target, started, ended time.Time) result.Meta {
	m := result.Meta{
		Scenario:      sc.Name,
		ScenarioFile:  sc.File,
		ScenarioHash:  sc.Hash,
		Description:   sc.Description,
		Seed:          sc.Seed,
		GitRevision:   gitRevision(),
		Machine:       machine(),
		StartedAt:     started.UTC(),
		EndedAt:       ended.UTC(),
		MeasuredFromS: plan.Warmup.Seconds(),
		DurationS:     (plan.End - plan.Warmup).Seconds(),
		Devices:       len(plan.Devices),
	}
	qos := map[int]bool{}
	for _, f := range sc.Fleets {
		qos[f.QoS] = true
	}
	for q := range qos {
		m.QoS = append(m.QoS, q)
	}
	slices.Sort(m.QoS)
	if bi, ok := debug.ReadBuildInfo(); ok {
		m.CitybenchVersion = bi.Main.Version
	}
	return m
}

// gitRevision names the code that ran: the build's VCS stamp when there is one,
// else the work tree's HEAD (plus "-dirty" when it has changes).
func gitRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			return rev + dirty
		}
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += "-dirty"
	}
	return rev
}

// DependencyVersions lists the versions of the libraries whose behaviour shapes
// the numbers, from the build's module information.
func DependencyVersions() map[string]string {
	want := []string{
		"github.com/eclipse/paho.mqtt.golang", "github.com/segmentio/kafka-go", "github.com/mochi-mqtt/server/v2",
		"github.com/twmb/franz-go/pkg/kfake", "github.com/apache/cassandra-gocql-driver/v2", "github.com/HdrHistogram/hdrhistogram-go",
	}
	out := map[string]string{"go": runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, d := range bi.Deps {
		if slices.Contains(want, d.Path) {
			out[d.Path] = d.Version
		}
	}
	return out
}

// Machine describes the host the harness runs on, as results record it.
func Machine() result.Machine { return machine() }

func machine() result.Machine {
	m := result.Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					m.MemoryBytes = kb * 1024
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = runtime.GOOS + " (" + strings.Trim(v, `"`) + ")"
			}
		}
	}
	return m
}
