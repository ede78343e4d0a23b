// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build js && wasm
// +build js,wasm

package webrtc

import (
	"errors"
	"fmt"
	"strings"
)

// ICEServer describes a single STUN and TURN server that can be used by
// the ICEAgent to establish a connection with a peer.
type ICEServer struct {
	URLs     []string
	Username string
	// Note: TURN is not supported in the WASM bindings yet
	Credential     any
	CredentialType ICECredentialType
}

// validate checks each URL's scheme as pion/ice's ParseURL does (the browser
// checks the rest when it is given the configuration); TURN is refused.
func (s ICEServer) validate() ([]string, error) {
	for _, raw := range s.URLs {
		scheme, _, found := strings.Cut(raw, ":")
		if !found {
			return nil, fmt.Errorf("%w: %q", errICEServerURL, raw)
		}
		switch strings.ToLower(scheme) {
		case "stun", "stuns":
		case "turn", "turns":
			return nil, errors.New("TURN is not currently supported in the JavaScript/Wasm bindings")
		default:
			return nil, fmt.Errorf("%w: %q", errICEServerURL, raw)
		}
	}

	return s.URLs, nil
}

var errICEServerURL = errors.New("unknown ICE server URL scheme")
