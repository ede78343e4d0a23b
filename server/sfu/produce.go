package sfu

import "sync"

// produceRules hold the media kinds each user may publish, as the app sets
// them from the user's preset (media.*.can_produce). A user never set may
// publish every kind; the stage still decides who publishes at all.
type produceRules struct {
	mu     sync.RWMutex
	denied map[produceKey]map[string]bool // kinds refused
}

type produceKey struct{ meetingID, userID string }

// SetMayProduce records which media kinds ("audio", "video",
// "screenshare") the user may publish; a track of another kind is not
// forwarded. The hub calls it when the user joins and when its preset
// changes (a track already forwarded keeps flowing until the user
// publishes again), and with an always-true may when it leaves.
func (s *SFU) SetMayProduce(meetingID, userID string, may func(kind string) bool) {
	var denied map[string]bool
	for _, kind := range []string{"audio", "video", "screenshare"} {
		if !may(kind) {
			if denied == nil {
				denied = map[string]bool{}
			}
			denied[kind] = true
		}
	}
	r := &s.produce
	r.mu.Lock()
	defer r.mu.Unlock()
	k := produceKey{meetingID, userID}
	if denied == nil {
		delete(r.denied, k)
		return
	}
	if r.denied == nil {
		r.denied = map[produceKey]map[string]bool{}
	}
	r.denied[k] = denied
}

// mayProduce reports whether the user may publish a track of kind.
func (s *SFU) mayProduce(meetingID, userID, kind string) bool {
	r := &s.produce
	r.mu.RLock()
	defer r.mu.RUnlock()
	return !r.denied[produceKey{meetingID, userID}][kind]
}
