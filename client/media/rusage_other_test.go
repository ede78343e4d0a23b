//go:build !unix && !js

package media

import "time"

// cpuTime is not measured on this platform.
func cpuTime() time.Duration { return 0 }

// userTime is not measured on this platform.
func userTime() time.Duration { return 0 }
