// SPDX-FileCopyrightText: 2023 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js
// +build !js

package webrtc

import (
	"fmt"

	"github.com/pion/srtp/v3"
)

// NewSRTPSendContext returns a new SRTP context keyed for what this side
// of the transport sends, as the transport's own session is. It lets an
// SFU encrypt RTP itself and send it on its own socket, many peers a
// system call. The transport's session must not also send RTP with the
// SSRCs this context encrypts: each keeps its own rollover counters.
// (Added by stagekit: third_party/README.md.)
func (t *DTLSTransport) NewSRTPSendContext() (*srtp.Context, error) {
	return t.newSRTPContext(false)
}

// NewSRTPReceiveContext returns a new SRTP context keyed for what the
// remote side sends: an SFU that reads its shared socket itself decrypts
// a peer's SRTCP with it, on the reading goroutine, instead of handing
// each packet through the ICE, mux and SRTP session layers. Its replay
// state is its own. (Added by stagekit: third_party/README.md.)
func (t *DTLSTransport) NewSRTPReceiveContext() (*srtp.Context, error) {
	return t.newSRTPContext(true)
}

func (t *DTLSTransport) newSRTPContext(remote bool) (*srtp.Context, error) {
	t.lock.RLock()
	defer t.lock.RUnlock()
	if t.conn == nil {
		return nil, fmt.Errorf("%w: DTLS not started", errDtlsKeyExtractionFailed)
	}
	connState, ok := t.conn.ConnectionState()
	if !ok {
		return nil, fmt.Errorf("%w: Failed to get DTLS ConnectionState", errDtlsKeyExtractionFailed)
	}
	config := &srtp.Config{Profile: t.srtpProtectionProfile}
	if err := config.ExtractSessionKeysFromDTLS(&connState, t.role() == DTLSRoleClient); err != nil {
		return nil, fmt.Errorf("%w: %v", errDtlsKeyExtractionFailed, err) //nolint:errorlint
	}
	var opts []srtp.ContextOption
	if remote {
		if t.remoteCryptexMode == srtp.CryptexModeEnabled || t.remoteCryptexMode == srtp.CryptexModeRequired {
			opts = append(opts, srtp.Cryptex(t.remoteCryptexMode))
		}

		return srtp.CreateContext(config.Keys.RemoteMasterKey, config.Keys.RemoteMasterSalt, config.Profile, opts...)
	}
	if t.localCryptexMode == srtp.CryptexModeEnabled || t.localCryptexMode == srtp.CryptexModeRequired {
		opts = append(opts, srtp.Cryptex(t.localCryptexMode))
	}

	return srtp.CreateContext(config.Keys.LocalMasterKey, config.Keys.LocalMasterSalt, config.Profile, opts...)
}
