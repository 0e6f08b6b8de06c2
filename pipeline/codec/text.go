package codec

import (
	"bytes"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/citybench/citybench/pipeline/topics"
)

// ReasonBadTopic marks a text payload whose topic does not say which metric (or
// device) it carries.
const ReasonBadTopic = "bad_topic"

// TextOption configures the text codec.
type TextOption func(*textCodec)

// WithTemplate makes the text codec read the topic through a template: the
// metric is the template's "metric" variable (the last level when it has none)
// and, for the two-field form, the device id is Template.DeviceID of the matched
// variables. A topic that does not match is rejected with ReasonBadTopic.
func WithTemplate(t topics.Template) TextOption {
	return func(c *textCodec) { c.tpl = t }
}

// WithPlainTimeUnit sets the unit of the timestamp in the two-field form
// (default time.Second, the Unix timestamp the blog's devices send; a decimal
// fraction is allowed, e.g. "1700000000.25").
func WithPlainTimeUnit(unit time.Duration) TextOption {
	return func(c *textCodec) {
		if unit > 0 {
			c.plainUnit = unit
		}
	}
}

type textCodec struct {
	tpl       topics.Template
	plainUnit time.Duration
}

// Text returns the smart-city blog's tab-separated codec. One message carries one
// metric, named by the topic. Two payload forms are decoded:
//
//	sample_time_ns<TAB>value<TAB>device_id<TAB>seq   the full envelope (what Encode writes)
//	timestamp<TAB>value                              the blog's plain form
//
// In the plain form the timestamp is in the unit set by WithPlainTimeUnit
// (seconds by default), the device id comes from the topic (see WithTemplate;
// without a template it is the topic minus its last level and leading '/') and
// seq is 0. A single trailing newline is tolerated, as command-line publishers
// add one. Model is not carried.
func Text(opts ...TextOption) Codec {
	c := &textCodec{plainUnit: time.Second}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *textCodec) Name() string { return "text" }

func (c *textCodec) Encode(r Reading) ([]byte, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	if len(r.Metrics) != 1 {
		return nil, reject(ReasonUnsupported, "text carries one metric per message, reading has %d", len(r.Metrics))
	}
	var v float64
	for _, mv := range r.Metrics {
		v = mv
	}
	b := make([]byte, 0, 64+len(r.DeviceID))
	b = strconv.AppendInt(b, r.SampleTimeNs, 10)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	b = append(b, '\t')
	b = append(b, r.DeviceID...)
	b = append(b, '\t')
	b = strconv.AppendUint(b, r.Seq, 10)
	return checkEncoded(b)
}

// topicInfo reads the metric and the plain form's device id from topic.
func (c *textCodec) topicInfo(topic string) (metric, device string, err error) {
	if !c.tpl.IsZero() {
		vars, ok := c.tpl.Match(topic)
		if !ok {
			return "", "", reject(ReasonBadTopic, "topic %q does not match template %q", topic, c.tpl)
		}
		metric = vars[topics.MetricVar]
		if metric == "" {
			metric = topic[strings.LastIndexByte(topic, '/')+1:]
		}
		return metric, c.tpl.DeviceID(vars), nil
	}
	i := strings.LastIndexByte(topic, '/')
	if i < 0 {
		return topic, "", nil
	}
	return topic[i+1:], strings.TrimPrefix(topic[:i], "/"), nil
}

func (c *textCodec) Decode(topic string, payload []byte) (Reading, error) {
	if err := checkPayload(payload); err != nil {
		return Reading{}, err
	}
	if !utf8.Valid(payload) {
		return Reading{}, reject(ReasonBadUTF8, "payload is not valid UTF-8")
	}
	if !utf8.ValidString(topic) {
		return Reading{}, reject(ReasonBadUTF8, "topic is not valid UTF-8")
	}
	payload = bytes.TrimSuffix(payload, []byte("\n"))
	payload = bytes.TrimSuffix(payload, []byte("\r"))
	fields := strings.Split(string(payload), "\t")
	if len(fields) != 2 && len(fields) != 4 {
		return Reading{}, reject(ReasonMalformed, "%d tab-separated fields, want 2 or 4", len(fields))
	}
	metric, device, err := c.topicInfo(topic)
	if err != nil {
		return Reading{}, err
	}
	if metric == "" {
		return Reading{}, reject(ReasonBadTopic, "topic %q names no metric", topic)
	}
	value, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		return Reading{}, numReject("value", err)
	}
	r := Reading{Metrics: map[string]float64{metric: value}}
	if len(fields) == 4 {
		if r.SampleTimeNs, err = strconv.ParseInt(fields[0], 10, 64); err != nil {
			return Reading{}, numReject("sample_time_ns", err)
		}
		r.DeviceID = fields[2]
		if r.Seq, err = strconv.ParseUint(fields[3], 10, 64); err != nil {
			return Reading{}, numReject("seq", err)
		}
	} else {
		if r.SampleTimeNs, err = scaleDecimal(fields[0], c.plainUnit); err != nil {
			return Reading{}, err
		}
		if device == "" {
			return Reading{}, reject(ReasonBadTopic, "two-field payload and topic %q names no device", topic)
		}
		r.DeviceID = device
	}
	if err := Validate(r); err != nil {
		return Reading{}, err
	}
	return r, nil
}

func numReject(field string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return reject(ReasonOutOfRange, "%s: %v", field, err)
	}
	return reject(ReasonMalformed, "%s: %v", field, err)
}

// scaleDecimal converts a decimal number of units ("1700000000" or
// "1700000000.123456789") to nanoseconds exactly; float64 would lose the
// sub-microsecond digits of a nanosecond timestamp.
func scaleDecimal(s string, unit time.Duration) (int64, error) {
	if s == "" || len(s) > 40 {
		return 0, reject(ReasonMalformed, "timestamp %q is not a decimal number", s)
	}
	dot := false
	for i, ch := range s {
		switch {
		case ch >= '0' && ch <= '9':
		case ch == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		case ch == '-' && i == 0 && len(s) > 1:
		default:
			return 0, reject(ReasonMalformed, "timestamp %q is not a decimal number", s)
		}
	}
	if !dot {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, numReject("timestamp", err)
		}
		if n > 0 && n > (1<<63-1)/int64(unit) || n < 0 && n < -(1<<63-1)/int64(unit) {
			return 0, reject(ReasonOutOfRange, "timestamp %s overflows nanoseconds", s)
		}
		return n * int64(unit), nil
	}
	rat, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, reject(ReasonMalformed, "timestamp %q is not a decimal number", s)
	}
	rat.Mul(rat, new(big.Rat).SetInt64(int64(unit)))
	q := new(big.Int).Quo(rat.Num(), rat.Denom()) // truncates below 1 ns
	if !q.IsInt64() {
		return 0, reject(ReasonOutOfRange, "timestamp %s overflows nanoseconds", s)
	}
	return q.Int64(), nil
}
