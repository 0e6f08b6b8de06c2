package codec

import (
	"errors"
	"maps"

	"google.golang.org/protobuf/proto"

	"github.com/citybench/citybench/pipeline/codec/pb"
	"github.com/citybench/citybench/pipeline/topics"
)

// Metric names the Environment message's fields become.
const (
	MetricTemperature = "temperature"
	MetricHumidity    = "humidity"
	MetricCO2         = "co2"
)

// ProtobufOption configures the protobuf codec.
type ProtobufOption func(*protoCodec)

// WithEnvironmentTemplate sets the template that names devices sending the
// building paper's bare Environment message (default: topics.BuildingPattern);
// the device id is Template.DeviceID of the matched topic.
func WithEnvironmentTemplate(t topics.Template) ProtobufOption {
	return func(c *protoCodec) { c.envTpl = t }
}

type protoCodec struct {
	envTpl topics.Template
}

// Protobuf returns the codec for pb.Reading (schema in pb/reading.proto). It also
// decodes the building network's bare Environment{temperature, humidity, co2,
// timestamp} message: protobuf does not say which message a payload holds, so a
// payload that yields no envelope but parses as an Environment on a topic that
// matches the environment template is taken as one. Such readings get their
// device id from the topic, their sample time from timestamp (ms) and seq 0.
func Protobuf(opts ...ProtobufOption) Codec {
	c := &protoCodec{envTpl: topics.MustParse(topics.BuildingPattern)}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *protoCodec) Name() string { return "protobuf" }

func (c *protoCodec) Encode(r Reading) ([]byte, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	m := &pb.Reading{
		DeviceId:     r.DeviceID,
		Seq:          r.Seq,
		SampleTimeNs: r.SampleTimeNs,
		Model:        r.Model,
		Metrics:      r.Metrics,
	}
	// Deterministic so the same reading always yields the same bytes (replays and
	// deduplication by payload hash stay honest).
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, reject(ReasonMalformed, "encode: %v", err)
	}
	return checkEncoded(b)
}

func (c *protoCodec) Decode(topic string, payload []byte) (Reading, error) {
	if err := checkPayload(payload); err != nil {
		return Reading{}, err
	}
	var m pb.Reading
	if err := proto.Unmarshal(payload, &m); err != nil {
		return Reading{}, protoReject(err)
	}
	if m.DeviceId == "" && m.SampleTimeNs == 0 && len(m.Metrics) == 0 && m.Environment == nil {
		if r, ok, err := c.decodeEnvironment(topic, payload); ok {
			return r, err
		}
	}
	r := Reading{
		DeviceID:     m.DeviceId,
		Seq:          m.Seq,
		SampleTimeNs: m.SampleTimeNs,
		Model:        m.Model,
		Metrics:      m.Metrics,
	}
	if env := m.Environment; env != nil {
		r.Metrics = maps.Clone(r.Metrics)
		if r.Metrics == nil {
			r.Metrics = make(map[string]float64, 3)
		}
		r.Metrics[MetricTemperature] = env.Temperature
		r.Metrics[MetricHumidity] = env.Humidity
		r.Metrics[MetricCO2] = env.Co2
		if r.SampleTimeNs == 0 {
			r.SampleTimeNs = msToNs(env.Timestamp)
		}
	}
	if err := Validate(r); err != nil {
		return Reading{}, err
	}
	return r, nil
}

// decodeEnvironment tries payload as a bare Environment. ok is false when it is
// not one, so the caller reports the envelope's own problems instead.
func (c *protoCodec) decodeEnvironment(topic string, payload []byte) (Reading, bool, error) {
	vars, match := c.envTpl.Match(topic)
	if !match {
		return Reading{}, false, nil
	}
	var env pb.Environment
	if err := proto.Unmarshal(payload, &env); err != nil || len(env.ProtoReflect().GetUnknown()) > 0 {
		return Reading{}, false, nil
	}
	r := Reading{
		DeviceID:     c.envTpl.DeviceID(vars),
		SampleTimeNs: msToNs(env.Timestamp),
		Metrics: map[string]float64{
			MetricTemperature: env.Temperature,
			MetricHumidity:    env.Humidity,
			MetricCO2:         env.Co2,
		},
	}
	return r, true, Validate(r)
}

// msToNs converts, saturating so an absurd timestamp fails range validation
// instead of wrapping into a plausible one.
func msToNs(ms int64) int64 {
	const limit = (1<<63 - 1) / int64(1e6)
	switch {
	case ms > limit:
		return 1<<63 - 1
	case ms < -limit:
		return -1 << 63
	}
	return ms * 1e6
}

func protoReject(err error) error {
	// The protobuf runtime reports invalid UTF-8 in string fields distinctly; the
	// rest is a broken wire format.
	if isUTF8Error(err) {
		return reject(ReasonBadUTF8, "%v", err)
	}
	return reject(ReasonMalformed, "%v", err)
}

// isUTF8Error detects the runtime's invalid-UTF-8 error by its documented
// InvalidUTF8 method, as the type itself is internal.
func isUTF8Error(err error) bool {
	var u interface{ InvalidUTF8() bool }
	return errors.As(err, &u) && u.InvalidUTF8()
}
