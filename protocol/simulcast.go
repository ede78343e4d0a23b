package protocol

// SimulcastLayer is one simulcast layer of camera video as the SDK sends
// it: its rid, how much smaller than the track it is, and the bit rate its
// encoder is capped at.
type SimulcastLayer struct {
	RID        string
	ScaleDown  float64
	MaxBitrate int // bit/s
}

// CameraLayers are the simulcast layers of camera video, lowest first (the
// order the server ranks them in): a quarter, half and the full
// resolution. The bit rates are the usual ones for 180p, 360p and 720p
// VP8 (LiveKit's and Chromium's own simulcast tables are close). The SDK
// sends them; the server takes their rates for what a layer it has not
// measured yet will cost a viewer.
var CameraLayers = []SimulcastLayer{
	{"q", 4, 150_000},
	{"h", 2, 500_000},
	{"f", 1, 1_500_000},
}
