package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Ports for node processes. A node process binds the ports the testnet
// picked for it a moment after they were picked (and again when it is
// restarted). A port the kernel hands out for "127.0.0.1:0" comes from its
// ephemeral range, the range it also takes the source port of every
// outgoing connection from and the port of every other socket bound to
// port 0: while nodes start, the attacker's hosts and the nodes' own dials
// open hundreds, and one of them once took a node's metrics port before
// the node bound it (the node exited with "address already in use" and
// the run went on without it). So ports are picked below the ephemeral
// range, where the kernel hands out nothing by itself, checked free, and
// never handed out twice in a run.

// lowestPort is the lowest port picked: below it are the well-known and
// commonly configured service ports.
const lowestPort = 10000

// portPicker hands out free loopback TCP ports for one run.
type portPicker struct {
	lo, hi int // the range picked from, [lo, hi)
	mu     sync.Mutex
	used   map[int]bool
	listen func(port int) error // checks a port is free
	intn   func(n int) int      // random in [0, n)
}

func newPortPicker() *portPicker {
	return &portPicker{lo: lowestPort, hi: ephemeralLow(), used: map[int]bool{}, listen: tryListen, intn: rand.IntN}
}

// tryListen reports whether 127.0.0.1:port can be bound now.
func tryListen(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// ephemeralLow is the first port of the kernel's ephemeral range: Linux's
// ip_local_port_range, 32768 by default; elsewhere IANA's 49152.
func ephemeralLow() int {
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
			if f := strings.Fields(string(b)); len(f) == 2 {
				if lo, err := strconv.Atoi(f[0]); err == nil && lo > 0 {
					return lo
				}
			}
		}
		return 32768
	}
	return 49152
}

// pick returns a port free now and not handed out before in this run.
func (p *portPicker) pick() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hi-p.lo >= 1000 {
		for range 200 {
			port := p.lo + p.intn(p.hi-p.lo)
			if p.used[port] || p.listen(port) != nil {
				continue
			}
			p.used[port] = true
			return port, nil
		}
	}
	// No room below the ephemeral range (a machine configured so): let
	// the kernel pick, as before.
	for range 20 {
		port, err := kernelPort()
		if err != nil {
			return 0, err
		}
		if !p.used[port] {
			p.used[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port: the kernel keeps handing out ports already given to nodes")
}

// kernelPort is a port the kernel picked for 127.0.0.1:0, free now.
func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
