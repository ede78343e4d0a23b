package sfu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// interfaceRefresh is how old the machine's interface list may be when an
// ICE agent reads it.
const interfaceRefresh = 5 * time.Second

// interfaceCache is the network every ICE agent of the SFU shares. Given
// none, pion's agent makes its own and reads the machine's interfaces
// (a netlink dump of every link and address) for each peer connection: a
// tenth of a viewer's media join. Here they are read again only when an
// agent asks for them more than interfaceRefresh after the last read.
// Sockets and name resolution are the standard library's, as pion's own.
type interfaceCache struct {
	*stdnet.Net

	read  func() ([]*transport.Interface, error) // the machine's interfaces
	now   func() time.Time
	every time.Duration

	list      atomic.Pointer[interfaceList]
	refreshMu sync.Mutex // one reader at a time; the others take the list they have
}

type interfaceList struct {
	at  time.Time
	ifs []*transport.Interface
}

func newInterfaceCache() (*interfaceCache, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	c := &interfaceCache{Net: n, read: readInterfaces, now: time.Now, every: interfaceRefresh}
	ifs, _ := n.Interfaces()
	c.list.Store(&interfaceList{at: c.now(), ifs: ifs})
	return c, nil
}

// readInterfaces reads the machine's interfaces as pion's stdnet does.
func readInterfaces() ([]*transport.Interface, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return n.Interfaces()
}

// Interfaces returns the interfaces, read again if the list is older than
// c.every. If that read fails, the previous list stays.
func (c *interfaceCache) Interfaces() ([]*transport.Interface, error) {
	l := c.list.Load()
	if now := c.now(); now.Sub(l.at) >= c.every && c.refreshMu.TryLock() {
		defer c.refreshMu.Unlock()
		if l = c.list.Load(); now.Sub(l.at) >= c.every {
			if ifs, err := c.read(); err == nil {
				l = &interfaceList{at: now, ifs: ifs}
			} else {
				l = &interfaceList{at: now, ifs: l.ifs}
			}
			c.list.Store(l)
		}
	}
	return l.ifs, nil
}

// InterfaceByIndex returns the interface with index.
func (c *interfaceCache) InterfaceByIndex(index int) (*transport.Interface, error) {
	ifs, _ := c.Interfaces()
	for _, ifc := range ifs {
		if ifc.Index == index {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: index=%d", transport.ErrInterfaceNotFound, index)
}

// InterfaceByName returns the interface named name.
func (c *interfaceCache) InterfaceByName(name string) (*transport.Interface, error) {
	ifs, _ := c.Interfaces()
	for _, ifc := range ifs {
		if ifc.Name == name {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", transport.ErrInterfaceNotFound, name)
}
