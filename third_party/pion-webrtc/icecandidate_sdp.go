// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package webrtc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Candidate lines without pion/ice, for the browser build
// (icecandidate_js.go); icecandidate_sdp_test.go checks them against
// pion/ice's Marshal and UnmarshalCandidate.

var errMalformedCandidate = errors.New("malformed ICE candidate")

// marshal writes the candidate as pion/ice's Candidate.Marshal does: an
// unknown type gives "" (ice fails to convert it); raddr/rport only for
// non-host candidates that have both.
func (c ICECandidate) marshal() string {
	if c.Typ == ICECandidateTypeUnknown {
		return ""
	}
	foundation := c.Foundation
	if foundation == " " {
		foundation = ""
	}
	address := c.Address
	if i := strings.IndexByte(address, '%'); i >= 0 {
		address = address[:i]
	}
	val := fmt.Sprintf("%s %d %s %d %s %d typ %s",
		foundation, c.Component, c.Protocol, c.Priority, address, c.Port, c.Typ)
	if c.Typ != ICECandidateTypeHost && c.RelatedAddress != "" && c.RelatedPort != 0 {
		val = fmt.Sprintf("%s raddr %s rport %d", val, c.RelatedAddress, c.RelatedPort)
	}
	if c.extensions != "" {
		val += " " + c.extensions
	}

	return val
}

// unmarshalCandidate parses an SDP candidate line ("candidate:" optional) as
// pion/ice's UnmarshalCandidate does: foundation component transport priority
// address port "typ" type, then "raddr A rport P" if present (kept for
// non-host candidates), then key/value extensions, of which tcptype must be
// active, passive or so.
func unmarshalCandidate(raw string) (ICECandidate, error) {
	fields := strings.Fields(strings.TrimPrefix(raw, "candidate:"))
	if len(fields) < 8 || fields[6] != "typ" {
		return ICECandidate{}, fmt.Errorf("%w: %q", errMalformedCandidate, raw)
	}
	component, err := strconv.ParseUint(fields[1], 10, 16)
	if err != nil {
		return ICECandidate{}, fmt.Errorf("%w: component: %w", errMalformedCandidate, err)
	}
	protocol, err := NewICEProtocol(strings.ToLower(fields[2]))
	if err != nil {
		return ICECandidate{}, err
	}
	priority, err := strconv.ParseUint(fields[3], 10, 32)
	if err != nil {
		return ICECandidate{}, fmt.Errorf("%w: priority: %w", errMalformedCandidate, err)
	}
	port, err := strconv.ParseUint(fields[5], 10, 16)
	if err != nil {
		return ICECandidate{}, fmt.Errorf("%w: port: %w", errMalformedCandidate, err)
	}
	typ, err := NewICECandidateType(fields[7])
	if err != nil {
		return ICECandidate{}, err
	}
	c := ICECandidate{
		Foundation: fields[0],
		Component:  uint16(component),
		Protocol:   protocol,
		Priority:   uint32(priority),
		Address:    fields[4],
		Port:       uint16(port),
		Typ:        typ,
	}
	rest := fields[8:]
	if len(rest) > 0 && rest[0] == "raddr" {
		if len(rest) < 4 || rest[2] != "rport" {
			return ICECandidate{}, fmt.Errorf("%w: raddr without rport: %q", errMalformedCandidate, raw)
		}
		rport, err := strconv.ParseUint(rest[3], 10, 16)
		if err != nil {
			return ICECandidate{}, fmt.Errorf("%w: rport: %w", errMalformedCandidate, err)
		}
		if typ != ICECandidateTypeHost {
			c.RelatedAddress, c.RelatedPort = rest[1], uint16(rport)
		}
		rest = rest[4:]
	}
	var extensions []string
	for ; len(rest) > 0; rest = rest[min(2, len(rest)):] {
		key, value := rest[0], "" // a last key may come without a value, as seen in the wild
		if len(rest) > 1 {
			value = rest[1]
		}
		if key != "tcptype" {
			extensions = append(extensions, key+" "+value)

			continue
		}
		switch value {
		case "active", "passive", "so":
			c.TCPType = value
		default:
			return ICECandidate{}, fmt.Errorf("%w: tcptype %q", errMalformedCandidate, value)
		}
	}
	if c.TCPType != "" {
		// pion/ice keeps tcptype among the extensions too, first.
		extensions = append([]string{"tcptype " + c.TCPType}, extensions...)
	}
	c.extensions = strings.Join(extensions, " ")

	return c, nil
}
