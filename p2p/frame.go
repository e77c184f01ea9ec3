package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Stream framing: every request, response and author frame is an unsigned
// varint length followed by that many bytes of SCALE (as Substrate's
// request-response protocols frame their payloads).

// ErrFrameTooLarge: a frame's length prefix is over the reader's limit.
var ErrFrameTooLarge = errors.New("frame larger than the limit")

// WriteFrame writes one length-prefixed frame holding the encoding of v.
func WriteFrame(w io.Writer, v types.Encoder) error {
	body := codec.NewWriter(64)
	body.Raw(make([]byte, binary.MaxVarintLen64)) // room for the prefix
	v.Encode(body)
	b := body.Bytes()
	n := len(b) - binary.MaxVarintLen64
	var pre [binary.MaxVarintLen64]byte
	pl := binary.PutUvarint(pre[:], uint64(n))
	start := binary.MaxVarintLen64 - pl
	copy(b[start:], pre[:pl])
	_, err := w.Write(b[start:])
	return err
}

// ReadFrame reads one frame of at most max bytes. It never allocates more
// than the bytes that actually arrive plus a small constant, whatever the
// prefix claims.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("frame length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	// Grow with what arrives, so a lying prefix costs nothing.
	buf := make([]byte, 0, min(int(n), 64<<10))
	for uint64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), int(n))])
		buf = buf[:len(buf)+m]
		if err != nil {
			if uint64(len(buf)) < n && errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("frame body: %w", io.ErrUnexpectedEOF)
			}
			if uint64(len(buf)) < n {
				return nil, fmt.Errorf("frame body: %w", err)
			}
		}
	}
	return buf, nil
}
