package testcontainers

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/moby/moby/api/types/events"
)

// dashFirst is 16 bytes whose URL-safe base64 starts with '-' (0xF8 = 111110xx).
var dashFirst = append([]byte{0xF8}, bytes.Repeat([]byte{0x11}, 15)...)

func TestNewClusterIDRedrawsLikeKafka(t *testing.T) {
	good := bytes.Repeat([]byte{0x42}, 16)
	one := append(make([]byte, 15), 1)
	cases := []struct {
		name    string
		random  []byte
		want    string
		wantErr bool
	}{
		{"random bytes used as they are", good, base64.RawURLEncoding.EncodeToString(good), false},
		{"leading '-' redrawn", concat(dashFirst, good), base64.RawURLEncoding.EncodeToString(good), false},
		{"zero uuid redrawn", concat(make([]byte, 16), good), base64.RawURLEncoding.EncodeToString(good), false},
		{"one uuid (metadata topic) redrawn", concat(one, dashFirst, good), base64.RawURLEncoding.EncodeToString(good), false},
		{"source that only gives bad ids", bytes.Repeat(dashFirst, 64), "", true},
		{"short source", good[:7], "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := newClusterID(bytes.NewReader(c.random))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if got != c.want {
				t.Errorf("id = %q, want %q", got, c.want)
			}
		})
	}
	if _, err := newClusterID(iotest.ErrReader(iotest.ErrTimeout)); err == nil {
		t.Error("failing source: no error")
	}
}

// TestNewClusterIDNeverStartsWithDash draws many ids: with the bug one in 64 began
// with '-', so 20,000 draws would show ~300.
func TestNewClusterIDNeverStartsWithDash(t *testing.T) {
	for i := range 20000 {
		id, err := newClusterID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if strings.HasPrefix(id, "-") || len(id) != 22 || err != nil || len(b) != 16 {
			t.Fatalf("draw %d: id %q (decoded %d bytes, %v): want 22 URL-safe characters, 16 bytes, no leading '-'", i, id, len(b), err)
		}
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestExitFrom(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]string
		want  ExitedError
	}{
		{"kafka broker", map[string]string{"name": "citybench-ab12cd34-kafka-2", LabelComponent: "kafka", "exitCode": "1"},
			ExitedError{Name: "kafka-2", Component: "kafka", ExitCode: 1}},
		{"no exit code", map[string]string{"name": "citybench-ab12cd34-sink-1", LabelComponent: "sink"},
			ExitedError{Name: "sink-1", Component: "sink", ExitCode: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := exitFrom(events.Message{Actor: events.Actor{ID: "x", Attributes: c.attrs}}, "ab12cd34")
			if got.Name != c.want.Name || got.Component != c.want.Component || got.ExitCode != c.want.ExitCode {
				t.Errorf("got %+v, want %+v", *got, c.want)
			}
		})
	}
}

func TestExitedErrorShowsLogTail(t *testing.T) {
	log := []byte("starting\r\n\nline a\nargument --cluster-id/-t: expected one argument\n")
	e := &ExitedError{Name: "kafka-1", Component: "kafka", ExitCode: 1, After: 2345 * time.Millisecond, LogTail: lastLines(log, 2)}
	msg := e.Error()
	for _, want := range []string{"kafka-1 (kafka) exited with code 1, 2.3s into the start", "line a", "expected one argument"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "starting") {
		t.Errorf("%q quotes more than the last 2 lines", msg)
	}
	if got := (&ExitedError{Name: "mqtt", Component: "mosquitto", ExitCode: 3}).Error(); !strings.Contains(got, "log is empty") {
		t.Errorf("empty log: %q", got)
	}
}
