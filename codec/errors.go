// Package codec reads and writes SCALE for bytes that come from untrusted
// peers. It sits under github.com/ChainSafe/gossamer/pkg/scale (whose
// reflection codec our types stay compatible with) and adds what hostile input
// needs: every length prefix is checked against the bytes that remain before
// anything is allocated, only canonical encodings are accepted, trailing bytes
// are an error, and configurable limits cap bitfields, votes, statements,
// digest items and message size.
package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors; every decode error wraps exactly one of them.
var (
	ErrTruncated           = errors.New("input truncated")
	ErrTrailingBytes       = errors.New("trailing bytes after value")
	ErrUnknownVariant      = errors.New("unknown enum variant")
	ErrBadOptionTag        = errors.New("bad option tag")
	ErrBadBool             = errors.New("bad bool byte")
	ErrNonCanonicalCompact = errors.New("non-canonical compact integer")
	ErrNonCanonical        = errors.New("non-canonical encoding")
	ErrLimitExceeded       = errors.New("limit exceeded")
	ErrOversize            = errors.New("message larger than the size limit")
	ErrInvalidValue        = errors.New("invalid value")
)

// DecodeError says what went wrong, while reading what, and at which byte
// offset of the input.
type DecodeError struct {
	Offset int
	What   string
	Err    error
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s at offset %d reading %s: %s", e.Err, e.Offset, e.What, e.Detail)
	}
	return fmt.Sprintf("%s at offset %d reading %s", e.Err, e.Offset, e.What)
}

func (e *DecodeError) Unwrap() error { return e.Err }
