// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js
// +build !js

package webrtc

import (
	"fmt"

	"github.com/pion/ice/v4"
)

func getNetworkType(iceNetworkType ice.NetworkType) (NetworkType, error) {
	switch iceNetworkType {
	case ice.NetworkTypeUDP4:
		return NetworkTypeUDP4, nil
	case ice.NetworkTypeUDP6:
		return NetworkTypeUDP6, nil
	case ice.NetworkTypeTCP4:
		return NetworkTypeTCP4, nil
	case ice.NetworkTypeTCP6:
		return NetworkTypeTCP6, nil
	default:
		return NetworkTypeUnknown, fmt.Errorf("%w: %s", errNetworkTypeUnknown, iceNetworkType.String())
	}
}

func toICENetworkTypes(networkTypes []NetworkType) []ice.NetworkType {
	if len(networkTypes) == 0 {
		return nil
	}

	converted := make([]ice.NetworkType, 0, len(networkTypes))
	for _, networkType := range networkTypes {
		converted = append(converted, networkType.toICE())
	}

	return converted
}

func (networkType NetworkType) toICE() ice.NetworkType {
	return ice.NetworkType(networkType)
}
