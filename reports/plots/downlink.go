package plots

import "github.com/citybench/citybench/reports/result"

// downlinkSpectra are the percentile spectra of the commands' delivery and
// round trip (corrected, with service time dashed), when the run sent commands.
func downlinkSpectra(r *result.Result) (charts []Chart, errs []error) {
	if r.Downlink == nil {
		return nil, nil
	}
	for _, stage := range []string{result.StageCommandDelivered, result.StageCommandAcked} {
		if st := r.Downlink.Stage(stage); st == nil || st.Latency.Count == 0 {
			continue
		}
		c, err := Spectrum(r, stage)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		charts = append(charts, c)
	}
	return charts, errs
}
