package client

// Logger receives the client's logs: *slog.Logger is one. args alternate
// keys and values, as slog takes them. (An interface rather than
// *slog.Logger keeps log/slog, ~40 KB compressed, out of the browser SDK.)
type Logger interface {
	Debug(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// Discard is a Logger that drops everything.
var Discard Logger = discard{}

type discard struct{}

func (discard) Debug(string, ...any) {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}

// LoggerWith returns l with args added to every line it logs.
func LoggerWith(l Logger, args ...any) Logger {
	if l == nil || l == Discard {
		return Discard
	}
	return withArgs{l: l, args: args}
}

type withArgs struct {
	l    Logger
	args []any
}

func (w withArgs) join(args []any) []any {
	return append(append(make([]any, 0, len(w.args)+len(args)), w.args...), args...)
}

func (w withArgs) Debug(msg string, args ...any) { w.l.Debug(msg, w.join(args)...) }
func (w withArgs) Warn(msg string, args ...any)  { w.l.Warn(msg, w.join(args)...) }
func (w withArgs) Error(msg string, args ...any) { w.l.Error(msg, w.join(args)...) }
