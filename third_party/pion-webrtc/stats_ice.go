// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js
// +build !js

package webrtc

import (
	"fmt"

	"github.com/pion/ice/v4"
)

func toICECandidatePairStats(candidatePairStats ice.CandidatePairStats) (ICECandidatePairStats, error) {
	state, err := toStatsICECandidatePairState(candidatePairStats.State)
	if err != nil {
		return ICECandidatePairStats{}, err
	}

	return ICECandidatePairStats{
		Timestamp: statsTimestampFrom(candidatePairStats.Timestamp),
		Type:      StatsTypeCandidatePair,
		ID:        newICECandidatePairStatsID(candidatePairStats.LocalCandidateID, candidatePairStats.RemoteCandidateID),
		// TransportID:
		LocalCandidateID:              candidatePairStats.LocalCandidateID,
		RemoteCandidateID:             candidatePairStats.RemoteCandidateID,
		State:                         state,
		Nominated:                     candidatePairStats.Nominated,
		PacketsSent:                   candidatePairStats.PacketsSent,
		PacketsReceived:               candidatePairStats.PacketsReceived,
		BytesSent:                     candidatePairStats.BytesSent,
		BytesReceived:                 candidatePairStats.BytesReceived,
		LastPacketSentTimestamp:       statsTimestampFrom(candidatePairStats.LastPacketSentTimestamp),
		LastPacketReceivedTimestamp:   statsTimestampFrom(candidatePairStats.LastPacketReceivedTimestamp),
		FirstRequestTimestamp:         statsTimestampFrom(candidatePairStats.FirstRequestTimestamp),
		LastRequestTimestamp:          statsTimestampFrom(candidatePairStats.LastRequestTimestamp),
		FirstResponseTimestamp:        statsTimestampFrom(candidatePairStats.FirstResponseTimestamp),
		LastResponseTimestamp:         statsTimestampFrom(candidatePairStats.LastResponseTimestamp),
		FirstRequestReceivedTimestamp: statsTimestampFrom(candidatePairStats.FirstRequestReceivedTimestamp),
		LastRequestReceivedTimestamp:  statsTimestampFrom(candidatePairStats.LastRequestReceivedTimestamp),
		TotalRoundTripTime:            candidatePairStats.TotalRoundTripTime,
		CurrentRoundTripTime:          candidatePairStats.CurrentRoundTripTime,
		AvailableOutgoingBitrate:      candidatePairStats.AvailableOutgoingBitrate,
		AvailableIncomingBitrate:      candidatePairStats.AvailableIncomingBitrate,
		CircuitBreakerTriggerCount:    candidatePairStats.CircuitBreakerTriggerCount,
		RequestsReceived:              candidatePairStats.RequestsReceived,
		RequestsSent:                  candidatePairStats.RequestsSent,
		ResponsesReceived:             candidatePairStats.ResponsesReceived,
		ResponsesSent:                 candidatePairStats.ResponsesSent,
		RetransmissionsReceived:       candidatePairStats.RetransmissionsReceived,
		RetransmissionsSent:           candidatePairStats.RetransmissionsSent,
		ConsentRequestsSent:           candidatePairStats.ConsentRequestsSent,
		ConsentExpiredTimestamp:       statsTimestampFrom(candidatePairStats.ConsentExpiredTimestamp),
	}, nil
}

func toStatsICECandidatePairState(state ice.CandidatePairState) (StatsICECandidatePairState, error) {
	switch state {
	case ice.CandidatePairStateWaiting:
		return StatsICECandidatePairStateWaiting, nil
	case ice.CandidatePairStateInProgress:
		return StatsICECandidatePairStateInProgress, nil
	case ice.CandidatePairStateFailed:
		return StatsICECandidatePairStateFailed, nil
	case ice.CandidatePairStateSucceeded:
		return StatsICECandidatePairStateSucceeded, nil
	default:
		// NOTE: this should never happen[tm]
		err := fmt.Errorf("%w: %s", errStatsICECandidateStateInvalid, state.String())

		return StatsICECandidatePairState("Unknown"), err
	}
}
