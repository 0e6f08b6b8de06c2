package result

import "testing"

func TestFormatUs(t *testing.T) {
	for _, c := range []struct {
		us   int64
		want string
	}{
		{0, "-"}, {850, "850µs"}, {1500, "1.5ms"}, {500_000, "500ms"}, {2_500_000, "2.5s"}, {1_234_567, "1.23s"}, {-1500, "-1.5ms"},
	} {
		if got := FormatUs(c.us); got != c.want {
			t.Errorf("FormatUs(%d) = %q, want %q", c.us, got, c.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{500_000, UnitMicroseconds, "500ms"},
		{100_000, UnitMicroseconds, "100ms"},
		{2_000_000, UnitMicroseconds, "2s"},
		{0, UnitMicroseconds, "0s"},
		{0.001, UnitRatio, "0.1%"},
		{0.999, UnitRatio, "99.9%"},
		{0.99989, UnitRatio, "99.989%"},
		{0, UnitMessages, "0 msgs"},
		{12, UnitMessages, "12 msgs"},
		{912.345, UnitPerSecond, "912.3 msgs/s"},
		{3.5, "", "3.5"},
		{3.5, "widgets", "3.5 widgets"},
	} {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestCommandString(t *testing.T) {
	c := &Command{Args: []string{"citybench", "run", "my scenarios/smoke.yaml", "--out=results/x", "--target=containers", "--label=it's"}}
	want := `citybench run 'my scenarios/smoke.yaml' --out=results/x --target=containers '--label=it'\''s'`
	if got := c.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
