package testnet

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

func TestPortPickerBelowEphemeralRange(t *testing.T) {
	p := newPortPicker()
	if p.hi <= p.lo {
		t.Skipf("no room below the ephemeral range (%d-%d)", p.lo, p.hi)
	}
	seen := map[int]bool{}
	for range 40 {
		port, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		if port < p.lo || port >= p.hi || seen[port] {
			t.Fatalf("picked %d: outside [%d, %d) or twice", port, p.lo, p.hi)
		}
		seen[port] = true
	}
}

// TestPortPickerSkips: a port that is taken, or was handed out already,
// is never handed out; past the range's end, or with no room below the
// ephemeral range, the kernel picks.
func TestPortPickerSkips(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().(*net.TCPAddr).Port

	// The random source proposes, in turn: a busy port, a free one, the
	// free one again (handed out already), another free one.
	free1, free2 := 20011, 20012
	proposals := []int{busy, free1, free1, free2}
	p := &portPicker{lo: 20000, hi: 21000, used: map[int]bool{}}
	p.intn = func(int) int {
		next := proposals[0]
		proposals = proposals[1:]
		return next - p.lo
	}
	p.listen = func(port int) error {
		if port == busy {
			return errors.New("in use")
		}
		return nil
	}
	for _, want := range []int{free1, free2} {
		got, err := p.pick()
		if err != nil || got != want {
			t.Fatalf("pick = %d, %v; want %d", got, err, want)
		}
	}

	small := &portPicker{lo: 20000, hi: 20100, used: map[int]bool{}, listen: tryListen,
		intn: func(int) int { t.Fatal("a range under 1,000 ports is not picked from"); return 0 }}
	a, err := small.pick()
	if err != nil {
		t.Fatal(err)
	}
	b, err := small.pick()
	if err != nil || a == b {
		t.Fatalf("kernel ports %d and %d (err %v): want two distinct", a, b, err)
	}
	if err := tryListen(a); err != nil {
		t.Fatalf("port %s from the kernel is not free: %v", strconv.Itoa(a), err)
	}
}
