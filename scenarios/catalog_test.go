package scenarios

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func catalog(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("catalog has %d files, want at least smoke, district and building", len(files))
	}
	return files
}

func TestCatalogLoads(t *testing.T) {
	for _, f := range catalog(t) {
		t.Run(f, func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if s.Name+".yaml" != f {
				t.Errorf("name %q does not match file %s", s.Name, f)
			}
			if len(s.Hash) != 64 {
				t.Errorf("hash %q is not sha256 hex", s.Hash)
			}
			if len(s.SLOs) == 0 {
				t.Errorf("no SLOs: a catalog scenario should say what passing means")
			}
			if _, err := s.ParseSLOs(); err != nil {
				t.Errorf("ParseSLOs: %v", err)
			}
			// The reference pipeline decodes with one codec per deployment, so a
			// catalog file the embedded target cannot run would be a broken demo.
			for _, f := range s.Fleets {
				if f.Codec != s.Fleets[0].Codec {
					t.Errorf("fleets %s and %s use codecs %s and %s; the reference pipeline runs one",
						s.Fleets[0].Name, f.Name, s.Fleets[0].Codec, f.Codec)
				}
			}
		})
	}
}

// TestCatalogShape pins the properties each catalog file promises in its comments.
func TestCatalogShape(t *testing.T) {
	tests := []struct {
		file             string
		minDevices       int
		maxDevices       int
		minTotal         time.Duration
		maxTotal         time.Duration
		minRate, maxRate float64 // nominal msgs/s
		phases           []string
		codecs           []string
	}{
		{"smoke.yaml", 150, 300, 5 * time.Second, 15 * time.Second, 100, 400, []string{"steady"}, []string{CodecJSON}},
		{"district.yaml", 1000, 5000, 35 * time.Second, 45 * time.Second, 500, 800,
			[]string{"ramp-up", "steady", "burst", "cool-down"}, []string{CodecText}},
		{"building.yaml", 100, 1000, 60 * time.Second, 2 * time.Minute, 20, 400, nil, []string{CodecProtobuf}},
		{"steady-qos2.yaml", 100, 100, 60 * time.Second, 70 * time.Second, 500, 1000, nil, []string{CodecJSON}},
		{"downlink.yaml", 1000, 1000, 20 * time.Second, 25 * time.Second, 100, 400, []string{"steady"}, []string{CodecJSON}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Load(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Devices(); d < tt.minDevices || d > tt.maxDevices {
				t.Errorf("devices = %d, want %d..%d", d, tt.minDevices, tt.maxDevices)
			}
			if d := s.Total(); d < tt.minTotal || d > tt.maxTotal {
				t.Errorf("total = %s, want %s..%s", d, tt.minTotal, tt.maxTotal)
			}
			if r := s.NominalRate(); r < tt.minRate || r > tt.maxRate {
				t.Errorf("nominal rate = %.1f msgs/s, want %.0f..%.0f", r, tt.minRate, tt.maxRate)
			}
			if tt.phases != nil {
				var names []string
				for _, p := range s.Phases {
					names = append(names, p.Name)
				}
				if !slices.Equal(names, tt.phases) {
					t.Errorf("phases = %v, want %v", names, tt.phases)
				}
			}
			for _, f := range s.Fleets {
				if !slices.Contains(tt.codecs, f.Codec) {
					t.Errorf("fleet %s codec %q, want one of %v", f.Name, f.Codec, tt.codecs)
				}
			}
		})
	}
}

// The district's burst must stay inside the honest envelope of the embedded demo.
func TestDistrictPeakRate(t *testing.T) {
	s, err := Load("district.yaml")
	if err != nil {
		t.Fatal(err)
	}
	peak := 0.0
	for _, p := range s.Phases {
		peak = max(peak, s.NominalRate()*p.RateFactor*p.ActiveFraction)
	}
	if peak > 800 {
		t.Errorf("peak offered rate %.0f msgs/s exceeds 800", peak)
	}
	want := map[string][2]float64{ // the blog's distributions
		"temperature": {28.7, 3.5}, "no2": {87.3, 0.5}, "so2": {122.1, 0.5},
		"wind_speed": {15.8, 8.5}, "wind_direction": {123.8, 65.7}, "traffic_speed": {0, 25},
	}
	seen := map[string]bool{}
	for _, f := range s.Fleets {
		if f.Topic != "hypo_city/{city}/{street}/{group}/{metric}" {
			t.Errorf("fleet %s topic %q", f.Name, f.Topic)
		}
		for _, sn := range f.Sensors {
			if w, ok := want[sn.Metric]; ok {
				seen[sn.Metric] = true
				if sn.Mean != w[0] || sn.StdDev != w[1] {
					t.Errorf("%s = N(%v, %v), want N(%v, %v)", sn.Metric, sn.Mean, sn.StdDev, w[0], w[1])
				}
			}
			if sn.Metric == "traffic_speed" && (sn.Min == nil || *sn.Min != 0) {
				t.Errorf("traffic_speed must be clamped at 0")
			}
		}
	}
	for m := range want {
		if !seen[m] {
			t.Errorf("metric %s missing", m)
		}
	}
}

func TestBuildingShape(t *testing.T) {
	s, err := Load("building.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var env, alert *Fleet
	for i := range s.Fleets {
		switch f := &s.Fleets[i]; {
		case f.Severity != nil:
			env = f
		case f.Connection == ConnectionConnectSendDisconnect:
			alert = f
		}
	}
	if env == nil || alert == nil {
		t.Fatalf("want a severity fleet and a connect-send-disconnect fleet, got env=%v alert=%v", env != nil, alert != nil)
	}
	if env.Topic != "/{zip}/{building}/{floor}/{node}/environment" || env.Codec != CodecProtobuf {
		t.Errorf("environment fleet: topic %q codec %q", env.Topic, env.Codec)
	}
	var modes []string
	var ivs []time.Duration
	for _, m := range env.Severity.Modes {
		modes = append(modes, m.Name)
		ivs = append(ivs, m.Interval.D())
	}
	if !slices.Equal(modes, []string{"NORMAL", "WARNING", "DANGER"}) {
		t.Errorf("modes = %v", modes)
	}
	// The papers' 60/40/20 s, scaled by one common factor.
	if ivs[0]*2 != ivs[1]*3 || ivs[0] != ivs[2]*3 {
		t.Errorf("mode intervals %v are not in the papers' 3:2:1 ratio", ivs)
	}
	if env.Severity.Trend <= 0 {
		t.Errorf("trend %v does not drive readings into higher modes", env.Severity.Trend)
	}
	if alert.QoS != 2 {
		t.Errorf("alert qos = %d, want 2", alert.QoS)
	}
}

// TestDownlinkCatalogPromise pins what downlink.yaml's comment promises: commands
// to 10 % of the nodes at 10 commands/s, over a control topic per device.
func TestDownlinkCatalogPromise(t *testing.T) {
	s, err := Load("downlink.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Commands) != 1 || s.Commands[0].Fraction != 0.1 || s.Commands[0].Rate != 10 {
		t.Fatalf("commands = %+v, want one at 10/s to 10 %%", s.Commands)
	}
	f := s.Fleets[0]
	if f.ControlTopic == "" || f.Severity == nil || f.AckTopic != f.ControlTopic+DefaultAckSuffix {
		t.Errorf("fleet %s: control %q ack %q severity %v", f.Name, f.ControlTopic, f.AckTopic, f.Severity != nil)
	}
	if got := s.ControlFilters(); !slices.Equal(got, []string{"/citynet/+/de/+/berlin/control", "/citynet/+/de/+/berlin/control/ack"}) {
		t.Errorf("control filters = %q", got)
	}
}
