// Package udpread reads a UDP socket without entering the Go scheduler's
// system-call state for each datagram (Linux; elsewhere it is Go's own
// read). Go's read does, and in a mostly idle process each such entry wakes
// the runtime's monitor thread (sysmon sleeps while the process idles): a
// thread wakeup per datagram on top of the reader's own. A server that
// reads a trickle of datagrams (an idle audience's reports and consent
// checks) pays that per datagram; a raw recvfrom on the non-blocking
// socket, with the runtime's poller waiting between datagrams as before,
// does not.
package udpread
