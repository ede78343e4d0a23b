// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build js && wasm
// +build js,wasm

package webrtc

// Certificate is not supported in the JavaScript/Wasm bindings (the browser
// makes the connection's certificate); the type remains so that
// Configuration keeps its field.
type Certificate struct{}
