package codec

import "testing"

func TestJSONFindDevice(t *testing.T) {
	tests := []struct {
		name, payload, want string
		ok                  bool
	}{
		{"plain", `{"device_id":"rome/g7","seq":1}`, "rome/g7", true},
		{"spaced", `{ "seq":1, "device_id" : "d1" }`, "d1", true},
		{"other case", `{"DEVICE_ID":"d1"}`, "d1", true},
		{"twice", `{"device_id":"a","Device_Id":"b"}`, "", false},
		{"escaped", `{"device_id":"a\"b"}`, "", false},
		{"escaped key", `{"device\u005fid":"a"}`, "", false},
		{"as a value", `{"model":"device_id"}`, "", false},
		{"not a string", `{"device_id":7}`, "", false},
		{"empty", `{"device_id":""}`, "", false},
		{"missing", `{"seq":1}`, "", false},
		{"truncated", `{"device_id":"abc`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := jsonCodec{}.FindDevice("", []byte(tt.payload))
			if ok != tt.ok || string(id) != tt.want {
				t.Fatalf("FindDevice(%s) = %q, %v; want %q, %v", tt.payload, id, ok, tt.want, tt.ok)
			}
		})
	}
}
