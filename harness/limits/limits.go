// Package limits says, before any load, how many device connections one process
// can hold on this machine — open files and ephemeral ports — and which loopback
// source address each device dials from, so ports never become the bound.
package limits

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Reserved is the number of open files a run keeps for everything but device
// connections: taps, Kafka and store clients, the API poller, logs and result files.
const Reserved = 1000

// FilesPerDevice is one connection's cost in open files: one socket for a device
// dialing another process, two when the broker runs in the same process (the
// embedded target holds both ends of every connection).
const (
	FilesPerDevice         = 1
	FilesPerEmbeddedDevice = 2
)

// maxSourceAddrs bounds the loopback source addresses devices dial from
// (127.0.0.1 … 127.0.0.254).
const maxSourceAddrs = 254

// Machine is what bounds connections in one process here.
type Machine struct {
	// OpenFiles is the process's open-file limit (Go raises the soft limit to the
	// hard one at start-up, so this is the hard limit on Linux).
	OpenFiles int
	// PortsPerAddr is the size of the ephemeral port range: how many connections
	// one source address can open to one destination.
	PortsPerAddr int
}

// Read reads this process's limits.
func Read() (Machine, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return Machine{}, fmt.Errorf("read open-file limit: %w", err)
	}
	m := Machine{OpenFiles: int(min(rl.Cur, 1<<31)), PortsPerAddr: 28232} // Linux's default range 32768–60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && hi >= lo {
				m.PortsPerAddr = hi - lo + 1
			}
		}
	}
	return m, nil
}

// Devices is how many device connections one process can hold when each costs
// filesPerDevice open files.
func (m Machine) Devices(filesPerDevice int) int {
	return max(0, (m.OpenFiles-Reserved)/max(filesPerDevice, 1))
}

// perAddr is how many devices one source address carries: a quarter of the port
// range stays free for taps, reconnects and sockets in TIME_WAIT.
func (m Machine) perAddr() int { return max(1, m.PortsPerAddr*3/4) }

// SourceAddrs is how many loopback source addresses devices connections to a
// loopback broker are spread over (1: no binding, the kernel picks).
func (m Machine) SourceAddrs(devices int) int {
	return min(maxSourceAddrs, max(1, (devices+m.perAddr()-1)/m.perAddr()))
}

// PortDevices is how many devices the ports allow against brokerURLs: loopback
// brokers are reached from many source addresses; any other broker host gives
// one port range per broker address.
func (m Machine) PortDevices(brokerURLs []string) int {
	n := 0
	for _, u := range brokerURLs {
		if IsLoopback(u) {
			n += m.perAddr() * maxSourceAddrs
		} else {
			n += m.perAddr()
		}
	}
	return n
}

// Check refuses a process that would hold more devices than its limits allow,
// with the numbers and what to do instead.
func (m Machine) Check(devices, filesPerDevice int, instead string) error {
	can := m.Devices(filesPerDevice)
	if devices <= can {
		return nil
	}
	per := "one socket per device"
	if filesPerDevice == FilesPerEmbeddedDevice {
		per = "two sockets per device: the embedded broker and the devices share the process"
	}
	return fmt.Errorf("%d devices in one process, but it can hold %d: its open-file limit is %d (%d kept for taps, Kafka, the store and files; %s) — %s",
		devices, can, m.OpenFiles, Reserved, per, instead)
}

// IsLoopback reports whether a broker URL's host is a loopback address.
func IsLoopback(brokerURL string) bool {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// SourceAddr is the loopback address device number k (of any numbering that
// spreads devices evenly) dials from when connections are spread over n addresses.
func SourceAddr(k, n int) net.IP {
	return net.IPv4(127, 0, 0, byte(1+k%max(n, 1)))
}
