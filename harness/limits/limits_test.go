package limits

import (
	"net"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	m := Machine{OpenFiles: 20000, PortsPerAddr: 28232}
	tests := []struct {
		devices, files int
		ok             bool
	}{
		{devices: 9500, files: FilesPerEmbeddedDevice, ok: true},
		{devices: 9501, files: FilesPerEmbeddedDevice},
		{devices: 19000, files: FilesPerDevice, ok: true},
		{devices: 19001, files: FilesPerDevice},
	}
	for _, tt := range tests {
		err := m.Check(tt.devices, tt.files, "use workers")
		if (err == nil) != tt.ok {
			t.Errorf("Check(%d, %d) = %v, want ok %v", tt.devices, tt.files, err, tt.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "20000") || !strings.Contains(err.Error(), "use workers")) {
			t.Errorf("error %q does not name the limit and the alternative", err)
		}
	}
}

func TestSourceAddrs(t *testing.T) {
	m := Machine{OpenFiles: 20000, PortsPerAddr: 28232}
	for _, tt := range []struct{ devices, want int }{{1, 1}, {21174, 1}, {21175, 2}, {50000, 3}, {1 << 30, 254}} {
		if got := m.SourceAddrs(tt.devices); got != tt.want {
			t.Errorf("SourceAddrs(%d) = %d, want %d", tt.devices, got, tt.want)
		}
	}
	if got := SourceAddr(3, 2); !got.Equal(net.IPv4(127, 0, 0, 2)) {
		t.Errorf("SourceAddr(3, 2) = %v", got)
	}
	if m.PortDevices([]string{"tcp://10.0.0.1:1883"}) != 21174 || m.PortDevices([]string{"tcp://127.0.0.1:1883"}) <= 50000 {
		t.Error("port budget: a remote broker gives one port range, a loopback one many")
	}
}

func TestRead(t *testing.T) {
	m, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if m.OpenFiles <= 0 || m.PortsPerAddr <= 0 {
		t.Fatalf("Read() = %+v", m)
	}
	t.Logf("this machine: %+v, %d devices per process (%d on the embedded target)", m, m.Devices(FilesPerDevice), m.Devices(FilesPerEmbeddedDevice))
}
