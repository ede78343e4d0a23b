package sfu

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// TestInterfaceCache: the agents' shared list is the machine's, read again
// only once it is interfaceRefresh old; a failed read keeps the last list.
func TestInterfaceCache(t *testing.T) {
	c, err := newInterfaceCache()
	if err != nil {
		t.Fatal(err)
	}
	std, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.Interfaces()
	want, _ := std.Interfaces()
	if names(got) != names(want) {
		t.Fatalf("interfaces %s, want the machine's %s", names(got), names(want))
	}

	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.list.Store(&interfaceList{at: now, ifs: want})
	reads := 0
	var next []*transport.Interface
	var readErr error
	c.read = func() ([]*transport.Interface, error) { reads++; return next, readErr }
	lo := transport.NewInterface(net.Interface{Index: 1, Name: "lo"})
	eth := transport.NewInterface(net.Interface{Index: 2, Name: "eth0"})
	for i, step := range []struct {
		after     time.Duration
		next      []*transport.Interface
		err       error
		wantReads int
		want      string
	}{
		{after: 0, next: []*transport.Interface{lo}, wantReads: 0, want: names(want)},
		{after: interfaceRefresh - time.Millisecond, next: []*transport.Interface{lo}, wantReads: 0, want: names(want)},
		{after: time.Millisecond, next: []*transport.Interface{lo}, wantReads: 1, want: "lo"},
		{after: time.Second, next: []*transport.Interface{lo, eth}, wantReads: 1, want: "lo"},
		{after: interfaceRefresh, err: errors.New("netlink"), wantReads: 2, want: "lo"},
		{after: time.Second, next: []*transport.Interface{lo, eth}, wantReads: 2, want: "lo"}, // the failed read counts as a read
		{after: interfaceRefresh, next: []*transport.Interface{lo, eth}, wantReads: 3, want: "lo,eth0"},
	} {
		now = now.Add(step.after)
		next, readErr = step.next, step.err
		ifs, err := c.Interfaces()
		if err != nil || names(ifs) != step.want || reads != step.wantReads {
			t.Fatalf("step %d: %s, %v after %d reads; want %s after %d", i, names(ifs), err, reads, step.want, step.wantReads)
		}
	}
	if ifc, err := c.InterfaceByName("eth0"); err != nil || ifc != eth {
		t.Fatalf("by name: %v, %v", ifc, err)
	}
	if ifc, err := c.InterfaceByIndex(1); err != nil || ifc != lo {
		t.Fatalf("by index: %v, %v", ifc, err)
	}
	if _, err := c.InterfaceByName("wlan0"); !errors.Is(err, transport.ErrInterfaceNotFound) {
		t.Fatalf("an unknown name: %v", err)
	}
	if _, err := c.InterfaceByIndex(9); !errors.Is(err, transport.ErrInterfaceNotFound) {
		t.Fatalf("an unknown index: %v", err)
	}
}

// TestInterfaceCacheConcurrent: agents read the list while it is renewed
// (run with -race); one of them reads the machine at a time.
func TestInterfaceCacheConcurrent(t *testing.T) {
	c, err := newInterfaceCache()
	if err != nil {
		t.Fatal(err)
	}
	c.every = 0 // every call may read the machine again
	var mu sync.Mutex
	inRead, most := 0, 0
	c.read = func() ([]*transport.Interface, error) {
		mu.Lock()
		inRead++
		most = max(most, inRead)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inRead--
		mu.Unlock()
		return readInterfaces()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				ifs, _ := c.Interfaces()
				if len(ifs) == 0 {
					t.Error("no interfaces")
					return
				}
			}
		})
	}
	wg.Wait()
	if most != 1 {
		t.Fatalf("%d reads of the machine at once", most)
	}
}

func names(ifs []*transport.Interface) string {
	s := ""
	for i, ifc := range ifs {
		if i > 0 {
			s += ","
		}
		s += ifc.Name
	}
	return s
}
