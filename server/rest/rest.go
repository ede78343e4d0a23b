// Package rest is the server's admin REST API, in the shape of RealtimeKit's:
// meetings, their participants and the presets, authenticated by the admin
// key (`Authorization: Bearer KEY`), JSON in a `data` envelope.
//
//	POST   /v1/meetings                                            {title}  → 201 meeting
//	GET    /v1/meetings/{id}                                                → 200 meeting
//	POST   /v1/meetings/{id}/participants    {name, preset_name, custom_participant_id}
//	                                                                        → 201 participant with token
//	GET    /v1/meetings/{id}/participants                                   → 200 [participant] (no tokens)
//	GET    /v1/meetings/{id}/participants/{participant_id}                  → 200 participant (no token)
//	DELETE /v1/meetings/{id}/participants/{participant_id}                  → 200 the deleted participant
//	POST   /v1/meetings/{id}/participants/{participant_id}/token            → 200 {token}, a fresh token;
//	                                                                          the earlier ones are revoked
//	GET    /v1/meetings/{id}/stage                                          → 200 {members, pending, count}:
//	                                                                          the live room (see StageState)
//	POST   /v1/meetings/{id}/stage/{grant|deny|kick} {user_ids, custom_participant_ids}
//	                                                                        → 200 {seq, changes} once stored
//	                                                                          (Idempotency-Key: applied once)
//	GET    /v1/meetings/{id}/stage/events?after=&limit=                     → 200 {events, next}: the stage log
//	GET|PUT /v1/meetings/{id}/stage/limits                                  → 200 the meeting's stage limits
//	GET    /v1/meetings/{id}/active-session                                 → 200 RealtimeKit's active session
//	POST   /v1/meetings/{id}/active-session/kick  {user_ids, custom_participant_ids}
//	POST   /v1/meetings/{id}/active-session/kick-all                        → 200 {action, participants}
//	GET    /v1/presets                                                      → 200 [preset]
//	POST   /v1/presets; GET|PUT|DELETE /v1/presets/{name}                   → presets, stored (PresetSink)
//	POST|GET /v1/webhooks; GET|DELETE /v1/webhooks/{id}; GET …/{id}/deliveries
//
// Success: `{"success":true,"data":...}`. A meeting is {id, title,
// created_at}; a participant {id, name, preset_name, custom_participant_id,
// created_at} plus token where stated; created_at is RFC 3339 UTC with
// milliseconds. Deleting a participant revokes its tokens (they no longer
// authenticate) and removes it from its live room.
//
// Bodies are JSON objects of at most MaxBodyBytes, without unknown fields.
// title is optional (at most 256 bytes); name is required (1 to 256 bytes
// after trimming surrounding spaces); preset_name is required and must name a
// configured preset; custom_participant_id is optional (at most 256 bytes).
// No field may contain control characters.
//
// Failure: `{"success":false,"error":{"code":<int>,"message":"..."}}`, with
// the HTTP status and code below.
package rest

// Error codes of the server's HTTP APIs (this REST API, the demo API, the
// Host check in front of every route), in the error body's "code". The HTTP
// status each comes with is in brackets.
const (
	CodeUnauthorized        = 4100 // [401] the Authorization header is missing or the admin key is wrong
	CodeMalformedBody       = 4101 // [400] the body is not one JSON object, or a field has the wrong JSON type
	CodeUnknownField        = 4102 // [400] the body has a field this route does not take
	CodeBodyTooLarge        = 4103 // [400] the body is larger than MaxBodyBytes
	CodeInvalidField        = 4104 // [400] a field is missing, empty, too long or has control characters
	CodeUnknownPreset       = 4105 // [400] preset_name names no configured preset
	CodeMeetingNotFound     = 4106 // [404] no meeting has this id
	CodeParticipantNotFound = 4107 // [404] the meeting has no participant with this id
	CodeRouteNotFound       = 4108 // [404] no such route
	CodeMethodNotAllowed    = 4109 // [405] the route exists but not with this method (see the Allow header)
	CodeHostNotAllowed      = 4110 // [403] the Host header names none of the server's names (DNS rebinding guard)
	CodeTooManyRequests     = 4111 // [429] demo API: too many requests from this address (see Retry-After)
	CodeNotCreator          = 4112 // [403] demo API: the meeting's creator secret is missing or wrong
	CodeNoActiveSession     = 4113 // [404] the meeting has no active session (nobody is in its room)
	CodeBodyTooSlow         = 4114 // [408] the body did not arrive within the body deadline
	CodeUnavailable         = 4115 // [503] the meeting's room cannot be served now (cluster placement); retry
	CodeWebhookNotFound     = 4116 // [404] no webhook has this id
	CodePresetNotFound      = 4117 // [404] no preset has this name
	CodePresetExists        = 4118 // [409] a preset with this name exists already
	CodePresetInUse         = 4119 // [409] built-in presets cannot be deleted
	CodeInternal            = 5000 // [500] the server failed (same as protocol.CodeInternal)
)

// Limits on requests.
const (
	MaxBodyBytes   = 64 << 10
	MaxTitleBytes  = 256
	MaxNameBytes   = 256
	MaxCustomBytes = 256
)
