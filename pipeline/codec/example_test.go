package codec_test

import (
	"fmt"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/topics"
)

// The text codec reads the blog's plain "timestamp<TAB>value" form, naming the
// metric and device from the topic, and the full envelope form it writes itself.
func ExampleText() {
	c := codec.Text(codec.WithTemplate(topics.MustParse(topics.HypoCityPattern)))

	r, err := c.Decode("hypo_city/rome/via_roma/g7/no2", []byte("1700000000.25\t87.3\n"))
	fmt.Println(r.DeviceID, r.Seq, r.SampleTimeNs, r.Metrics, err)

	b, _ := c.Encode(codec.Reading{DeviceID: "sensor-9", Seq: 7, SampleTimeNs: 1700000000250000000, Metrics: map[string]float64{"no2": 87.3}})
	fmt.Printf("%q\n", b)

	_, err = c.Decode("hypo_city/rome/via_roma/g7/no2", []byte("1700000000\tNaN"))
	fmt.Println(codec.Reason(err))
	// Output:
	// rome/via_roma/g7 0 1700000000250000000 map[no2:87.3] <nil>
	// "1700000000250000000\t87.3\tsensor-9\t7"
	// out_of_range
}
