package bridge

import (
	"testing"

	"github.com/citybench/citybench/pipeline/codec"
)

func TestIgnoreFilters(t *testing.T) {
	base := []Option{WithMQTT("tcp://127.0.0.1:1"), WithKafka("127.0.0.1:1"), WithCodec(codec.JSON())}
	if _, err := New(append(base, WithIgnore("a/#/b"))...); err == nil {
		t.Fatal("an invalid ignore filter must be refused")
	}
	b, err := New(append(base, WithIgnore("/citynet/+/de/+/berlin/control", "/citynet/+/de/+/berlin/control/ack"))...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic string
		want  bool
	}{
		{"/citynet/node-00001/de/mitte/berlin/control", true},
		{"/citynet/node-00001/de/mitte/berlin/control/ack", true},
		{"/citynet/node-00001/de/mitte/berlin/environment", false},
		{"/citynet/node-00001/de/mitte/berlin/control/other", false},
	}
	for _, tt := range tests {
		if got := b.ignores(tt.topic); got != tt.want {
			t.Errorf("ignores(%q) = %v, want %v", tt.topic, got, tt.want)
		}
	}
}
