//go:build unix

package media

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time (user + system, all threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// userTime is the process's user CPU time: cpuTime less what the kernel
// spent for it (on loopback, a send's system time includes the receiver's
// network path).
func userTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano())
}
