// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js
// +build !js

package webrtc

import (
	"github.com/pion/ice/v4"
)

func newICETransportStateFromICE(i ice.ConnectionState) ICETransportState {
	switch i {
	case ice.ConnectionStateNew:
		return ICETransportStateNew
	case ice.ConnectionStateChecking:
		return ICETransportStateChecking
	case ice.ConnectionStateConnected:
		return ICETransportStateConnected
	case ice.ConnectionStateCompleted:
		return ICETransportStateCompleted
	case ice.ConnectionStateFailed:
		return ICETransportStateFailed
	case ice.ConnectionStateDisconnected:
		return ICETransportStateDisconnected
	case ice.ConnectionStateClosed:
		return ICETransportStateClosed
	default:
		return ICETransportStateUnknown
	}
}

func (c ICETransportState) toICE() ice.ConnectionState {
	switch c {
	case ICETransportStateNew:
		return ice.ConnectionStateNew
	case ICETransportStateChecking:
		return ice.ConnectionStateChecking
	case ICETransportStateConnected:
		return ice.ConnectionStateConnected
	case ICETransportStateCompleted:
		return ice.ConnectionStateCompleted
	case ICETransportStateFailed:
		return ice.ConnectionStateFailed
	case ICETransportStateDisconnected:
		return ice.ConnectionStateDisconnected
	case ICETransportStateClosed:
		return ice.ConnectionStateClosed
	default:
		return ice.ConnectionStateUnknown
	}
}
