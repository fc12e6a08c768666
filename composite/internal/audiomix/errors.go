package audiomix

import "errors"

// Sentinel errors of the mixer's API; the Composite maps them onto Kurento
// codes (ErrUnknownInput → OBJECT_NOT_FOUND, ErrGain → ILLEGAL_PARAM, …).
var (
	// ErrUnknownInput: no input with that id.
	ErrUnknownInput = errors.New("audiomix: unknown input")
	// ErrDuplicateInput: AddInput with an id that is already an input.
	ErrDuplicateInput = errors.New("audiomix: input already exists")
	// ErrGain: a gain outside 0..10 (or NaN).
	ErrGain = errors.New("audiomix: gain out of range 0..10")
	// ErrClosed: the mixer has been closed.
	ErrClosed = errors.New("audiomix: mixer closed")
	// ErrNilOutput: AddInput without an out function.
	ErrNilOutput = errors.New("audiomix: nil output function")
)
