package htmlreport

import (
	"bytes"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

func TestPageShowsDownlink(t *testing.T) {
	acked := result.StageSummary{Stage: result.StageCommandAcked, Latency: result.Quantiles{Count: 9, P50Us: 1100, P99Us: 164000},
		Delivery: result.Delivery{Expected: 10, Delivered: 9, Lost: 1, Duplicated: 2, Availability: 0.9}}
	for _, tc := range []struct {
		name string
		dl   *result.Downlink
		want []string
		not  []string
	}{
		{"no commands", nil, nil, []string{"Downlink commands", `id="downlink"`}},
		{"commands", &result.Downlink{Commands: 10, Stages: []result.StageSummary{acked}, Severity: &result.SeverityReports{Sent: 5, Seen: 4}},
			[]string{`id="downlink"`, `<td class="l">command_acked</td><td>10</td><td>9</td><td>1</td><td>2</td><td>1.1ms</td>`, "164ms",
				"5 sent, 4 seen by the harness"}, nil},
		{"severity only", &result.Downlink{Severity: &result.SeverityReports{Sent: 3, Seen: 3}}, []string{`id="severity-reports"`}, []string{`id="downlink"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, &result.Result{Downlink: tc.dl}, Page{}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(buf.String(), w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}
