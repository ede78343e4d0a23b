package sfu

import (
	"net/netip"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// A connected viewer's browser checks, every few seconds, that the server
// still wants its media (ICE consent freshness, RFC 7675: a STUN binding
// request on the selected pair). pion's agent answers each after four
// goroutine hand-overs (mux, candidate, agent loop, and back); the tap
// answers the checks of a connected subscribe PC's selected pair itself,
// on the socket's reading goroutine, as pion's agent would (a success with
// XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT). Only a check
// that is plainly that goes this way: from the pair's remote address, for
// the PC's current credentials (USERNAME, MESSAGE-INTEGRITY), with a
// FINGERPRINT, carrying the role opposite the server's and no
// USE-CANDIDATE. Anything else (a nomination, a role conflict, a check
// during an ICE restart, a bad or unknown one) goes to pion as before.
//
// pion's agent does not see the checks the tap answers, so they cannot
// keep the pair alive in its eyes: the tap keeps the PC's liveness itself
// (silence.go), and pion's agent sends no checks of its own once
// connected.

// consentKeys are what a subscribe PC's consent checks are checked and
// answered with: its current ICE credentials and role.
type consentKeys struct {
	username string                // "local ufrag:remote ufrag", as the viewer's checks name it
	key      stun.MessageIntegrity // short-term: the local password
	peerRole stun.AttrType         // the role attribute the viewer's checks carry
}

// readConsentKeys reads ice's credentials and role, or nil while it has
// none.
func readConsentKeys(ice *webrtc.ICETransport) *consentKeys {
	local, err := ice.GetLocalParameters()
	if err != nil || local.UsernameFragment == "" || local.Password == "" {
		return nil
	}
	remote, err := ice.GetRemoteParameters()
	if err != nil || remote.UsernameFragment == "" {
		return nil
	}
	var peerRole stun.AttrType
	switch ice.Role() {
	case webrtc.ICERoleControlling:
		peerRole = stun.AttrICEControlled
	case webrtc.ICERoleControlled:
		peerRole = stun.AttrICEControlling
	default:
		return nil
	}
	return &consentKeys{
		username: local.UsernameFragment + ":" + remote.UsernameFragment,
		key:      stun.NewShortTermIntegrity(local.Password),
		peerRole: peerRole,
	}
}

// consentResponder is the tap's consent state, used by the reading
// goroutine only.
type consentResponder struct {
	req, resp stun.Message
	mapped    stun.XORMappedAddress
	ip        [16]byte
}

// isConsentCheck decodes b into c.req (a copy: b stays as it was, for
// pion) and says whether it is a consent check keys can answer.
func (c *consentResponder) isConsentCheck(b []byte, keys *consentKeys) bool {
	c.req.Raw = append(c.req.Raw[:0], b...)
	if c.req.Decode() != nil || c.req.Type != stun.BindingRequest {
		return false
	}
	if c.req.Contains(stun.AttrUseCandidate) || !c.req.Contains(keys.peerRole) {
		return false
	}
	if user, err := c.req.Get(stun.AttrUsername); err != nil || string(user) != keys.username {
		return false
	}
	// FINGERPRINT last: MESSAGE-INTEGRITY's check rewrites the header's
	// length while it runs and puts it back.
	return keys.key.Check(&c.req) == nil && stun.Fingerprint.Check(&c.req) == nil
}

// answer builds the success response to c.req, from is where it came
// from; the response is c.resp.Raw.
func (c *consentResponder) answer(from netip.AddrPort, keys *consentKeys) error {
	addr := from.Addr().Unmap()
	if addr.Is4() {
		a := addr.As4()
		c.mapped.IP = append(c.ip[:0], a[:]...)
	} else {
		a := addr.As16()
		c.mapped.IP = append(c.ip[:0], a[:]...)
	}
	c.mapped.Port = int(from.Port())
	return c.resp.Build(&c.req, stun.BindingSuccess, &c.mapped, keys.key, stun.Fingerprint)
}
