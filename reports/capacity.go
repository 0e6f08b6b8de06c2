package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/citybench/citybench/reports/htmlreport"
	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
)

// RenderCapacity writes a capacity search's charts (PNG and SVG) and index.html
// into dir, next to its capacity.json. A chart that fails is named on the page
// and returned as an error after everything else has been written.
func RenderCapacity(ctx context.Context, c *result.Capacity, dir string) error {
	if c == nil {
		return errors.New("render capacity report: nil capacity")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("render capacity report: %w", err)
	}
	rendered, renderErrs, err := renderCharts(ctx, plots.CapacityCharts(c), dir, 2)
	if err != nil {
		return fmt.Errorf("render capacity report: %w", err)
	}
	var problems []string
	for _, e := range renderErrs {
		problems = append(problems, e.Error())
	}
	var page bytes.Buffer
	if err := htmlreport.WriteCapacity(&page, c, htmlreport.Page{Charts: rendered, Problems: problems}); err != nil {
		return fmt.Errorf("render capacity report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFile), page.Bytes(), 0o644); err != nil {
		return fmt.Errorf("render capacity report: %w", err)
	}
	if len(renderErrs) > 0 {
		return fmt.Errorf("capacity report written without %d chart(s): %w", len(renderErrs), errors.Join(renderErrs...))
	}
	return nil
}
